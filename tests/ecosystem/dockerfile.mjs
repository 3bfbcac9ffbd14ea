// dockerfile.mjs: lint the Dockerfile and replay its build natively.
//
// No Docker engine runs on the development machines or in CI, so:
//  1. lint: the Dockerfile is parsed (continuations, exec/shell forms) and
//     held to the rules hadolint would check that matter here, plus the
//     project's own: two bookworm stages; the build stage runs only
//     tools/install-deps.sh and make (what CI runs); the runtime stage
//     installs only --runtime; COPY sources exist and are not excluded by
//     .dockerignore; USER non-root before ENTRYPOINT; exec-form ENTRYPOINT,
//     CMD and HEALTHCHECK (on /healthz); EXPOSE and SNND_* env agree with
//     server/config.c; no :latest, no sudo, no apt-get upgrade.
//  2. replay (with --replay): the build stage's WORKDIR/COPY/RUN steps are
//     executed in a fresh copy of the build context (the files git knows,
//     minus .dockerignore), then the runtime stage is checked against the
//     result: every shared library build/snnd needs belongs to a package of
//     `install-deps.sh --runtime` (or to libc), the binary starts with the
//     image's ENV and config, its HEALTHCHECK command passes, and SIGTERM
//     (what `docker stop` sends to the exec-form entrypoint) exits 0.
//     The runtime stage's RUN (useradd, apt lists removal) is not run on
//     the host on purpose.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, assert, daemonEnvVars, eq, freePort, read, summary, test } from './lib.mjs';

const REPLAY = process.argv.includes('--replay');

/* ------------------------------------------------------------- parser */
function parseDockerfile(text) {
  const out = [];
  const lines = text.split('\n');
  let buf = '', start = 0;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i];
    const t = raw.trim();
    if (!buf && (t === '' || t.startsWith('#'))) continue;
    if (buf && t.startsWith('#')) continue;          // comment inside a continuation
    if (!buf) start = i + 1;
    if (t.endsWith('\\')) { buf += t.slice(0, -1) + ' '; continue; }
    buf += t;
    const m = buf.match(/^(\w+)\s+([\s\S]*)$/);
    assert(m, `Dockerfile:${start}: cannot parse "${buf}"`);
    out.push({ cmd: m[1].toUpperCase(), args: m[2].trim(), line: start });
    buf = '';
  }
  assert(!buf, 'Dockerfile ends inside a line continuation');
  return out;
}
function execForm(args) {
  if (!args.startsWith('[')) return null;
  try {
    const a = JSON.parse(args);
    return Array.isArray(a) && a.every((x) => typeof x === 'string') ? a : null;
  } catch (e) {
    return null;
  }
}
function stages(ins) {
  const st = [];
  for (const i of ins) {
    if (i.cmd === 'FROM') {
      const m = i.args.match(/^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i);
      assert(m, `Dockerfile:${i.line}: FROM ${i.args}`);
      st.push({ image: m[1], name: m[2] || String(st.length), ins: [] });
    } else {
      assert(st.length || i.cmd === 'ARG', `Dockerfile:${i.line}: ${i.cmd} before FROM`);
      if (st.length) st[st.length - 1].ins.push(i);
    }
  }
  return st;
}
// COPY/ADD flags and sources/destination.
function copyArgs(args) {
  const words = args.split(/\s+/);
  const flags = {};
  while (words[0] && words[0].startsWith('--')) {
    const [k, v] = words.shift().slice(2).split('=');
    flags[k] = v;
  }
  const dest = words.pop();
  return { flags, srcs: words, dest };
}
// ENV k=v [k=v...] (or the old "ENV k v").
function envPairs(args) {
  const out = {};
  if (!args.includes('=')) {
    const [k, ...v] = args.split(/\s+/);
    out[k] = v.join(' ');
    return out;
  }
  for (const m of args.matchAll(/(\w+)=("([^"]*)"|\S+)/g)) out[m[1]] = m[3] !== undefined ? m[3] : m[2];
  return out;
}

/* ------------------------------------------------------ .dockerignore */
function ignoreMatcher() {
  const pats = read('.dockerignore').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const res = pats.map((p) => {
    const neg = p.startsWith('!');
    const body = (neg ? p.slice(1) : p).replace(/^\/+|\/+$/g, '');
    const rx = body.split('/').map((seg) => (seg === '**' ? '(?:.*/)?' : seg.replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]') + '/')).join('').replace(/\/$/, '').replace(/\(\?:\.\*\/\)\?\//g, '(?:.*/)?');
    return { neg, rx: new RegExp(`^${rx}(?:/.*)?$`) };
  });
  return (rel) => {
    let ignored = false;
    for (const r of res) if (r.rx.test(rel)) ignored = !r.neg;
    return ignored;
  };
}
function contextFiles() {
  const out = execFileSync('git', ['ls-files', '-co', '--exclude-standard', '-z'], { cwd: ROOT, encoding: 'utf8' });
  const ignored = ignoreMatcher();
  return out.split('\0').filter((f) => f && fs.existsSync(path.join(ROOT, f)) && !ignored(f));
}

/* --------------------------------------------------------------- lint */
const text = read('Dockerfile');
const ins = parseDockerfile(text);
const st = stages(ins);
const build = st[0], run = st[st.length - 1];
const runsOf = (s) => s.ins.filter((i) => i.cmd === 'RUN').map((i) => i.args);

await test('Dockerfile parses: two Debian bookworm stages, pinned, slim runtime', () => {
  eq(st.length, 2, 'stages');
  for (const s of st) assert(/^debian:bookworm(-slim)?$/.test(s.image), `stage ${s.name} on ${s.image}`);
  eq(run.image, 'debian:bookworm-slim', 'runtime base');
  assert(!ins.some((i) => i.cmd === 'MAINTAINER'), 'MAINTAINER is deprecated');
  for (const i of ins.filter((x) => x.cmd === 'WORKDIR')) assert(i.args.startsWith('/'), `WORKDIR ${i.args} absolute`);
  for (const i of ins.filter((x) => x.cmd === 'RUN')) {
    assert(!/\bsudo\b/.test(i.args), `Dockerfile:${i.line}: sudo`);
    assert(!/apt-get\s+(dist-)?upgrade/.test(i.args), `Dockerfile:${i.line}: apt-get upgrade`);
    assert(!/apt-get\s+install/.test(i.args) || /--no-install-recommends/.test(i.args),
           `Dockerfile:${i.line}: apt-get install without --no-install-recommends`);
    assert(!/(^|&&|;)\s*cd\s/.test(i.args), `Dockerfile:${i.line}: use WORKDIR, not cd`);
  }
});

await test('build stage runs exactly what CI runs: tools/install-deps.sh and make', () => {
  const runs = runsOf(build);
  eq(runs.length, 2, `build RUN steps (${JSON.stringify(runs)})`);
  eq(runs[0], 'tools/install-deps.sh', 'first RUN');
  assert(/^make(\s|$)/.test(runs[1]), `second RUN is make: ${runs[1]}`);
  const ci = fs.existsSync(path.join(ROOT, '.ci/run')) ? read('.ci/run') : '';
  const mk = read('Makefile');
  assert(/make test/.test(ci) && /tools\/install-deps\.sh/.test(mk), 'CI runs make test, which calls tools/install-deps.sh');
});

await test('runtime stage: install-deps --runtime only, binaries from the build stage', () => {
  const runs = runsOf(run);
  assert(runs.length >= 1 && runs.every((r) => !/\bmake\b|build-essential|\bcc\b|gcc/.test(r)), 'no compiler in runtime');
  assert(/install-deps\.sh --runtime(\s|$)/.test(runs[0]), `runtime RUN starts with install-deps.sh --runtime: ${runs[0]}`);
  const copies = run.ins.filter((i) => i.cmd === 'COPY').map((i) => copyArgs(i.args));
  const names = st.map((s) => s.name);
  for (const c of copies) if (c.flags.from) assert(names.includes(c.flags.from), `COPY --from=${c.flags.from} names a stage`);
  const fromBuild = copies.filter((c) => c.flags.from === build.name).flatMap((c) => c.srcs);
  for (const need of ['/src/build/snnd', '/src/models', '/src/config/snnd.json'])
    assert(fromBuild.includes(need), `runtime copies ${need}`);
});

await test('COPY sources exist in the build context and survive .dockerignore', () => {
  const ignored = ignoreMatcher();
  for (const s of st) for (const i of s.ins.filter((x) => x.cmd === 'COPY' || x.cmd === 'ADD')) {
    const c = copyArgs(i.args);
    assert(i.cmd === 'COPY', `Dockerfile:${i.line}: use COPY, not ADD`);
    if (c.flags.from) continue;
    for (const src of c.srcs) {
      if (src === '.') continue;
      assert(fs.existsSync(path.join(ROOT, src)), `Dockerfile:${i.line}: ${src} missing`);
      assert(!ignored(src), `Dockerfile:${i.line}: ${src} is excluded by .dockerignore`);
    }
  }
  for (const must of ['Makefile', 'src/sim/engine.c', 'server/main.c', 'include/snn/model.h', 'config/snnd.json', 'tools/install-deps.sh'])
    assert(!ignored(must), `.dockerignore keeps ${must}`);
  for (const gone of ['build/snnd', '.git/HEAD', 'tests/browser/node_modules/x', 'tests/artifacts/page.png'])
    assert(ignored(gone), `.dockerignore drops ${gone}`);
});

await test('runtime: non-root USER, exec-form ENTRYPOINT/CMD, HEALTHCHECK on /healthz, EXPOSE 8080, SNND_* env', () => {
  const last = (cmd) => run.ins.filter((i) => i.cmd === cmd).pop();
  const user = last('USER');
  assert(user, 'USER set');
  assert(!/^(root|0)(:|$)/.test(user.args), `USER ${user.args} is not root`);
  const uid = user.args.split(':')[0];
  assert(runsOf(run).some((r) => new RegExp(`useradd[^&]*--uid ${uid}\\b`).test(r)) || !/^\d+$/.test(uid), `uid ${uid} created`);
  const ep = last('ENTRYPOINT');
  assert(ep && execForm(ep.args), 'ENTRYPOINT in exec form (SIGTERM reaches snnd)');
  assert(ep.line > user.line, 'USER comes before ENTRYPOINT');
  eq(execForm(ep.args)[0], '/usr/local/bin/snnd', 'entrypoint binary');
  const cmd = last('CMD');
  assert(!cmd || execForm(cmd.args), 'CMD in exec form');
  const hc = last('HEALTHCHECK');
  assert(hc, 'HEALTHCHECK present');
  const hm = hc.args.match(/^((?:--\S+\s+)*)CMD\s+([\s\S]+)$/);
  assert(hm && execForm(hm[2]), 'HEALTHCHECK CMD in exec form');
  assert(execForm(hm[2]).join(' ').includes('/healthz'), 'HEALTHCHECK probes /healthz');
  for (const o of ['interval', 'timeout', 'start-period', 'retries']) assert(hm[1].includes(`--${o}=`), `HEALTHCHECK --${o}`);
  const expose = run.ins.filter((i) => i.cmd === 'EXPOSE').map((i) => i.args);
  assert(expose.includes('8080'), 'EXPOSE 8080');
  const env = Object.assign({}, ...run.ins.filter((i) => i.cmd === 'ENV').map((i) => envPairs(i.args)));
  eq(env.SNND_HOST, '0.0.0.0', 'SNND_HOST');
  eq(env.SNND_PORT, '8080', 'SNND_PORT');
  const opts = daemonEnvVars();
  for (const k of Object.keys(env)) if (k.startsWith('SNND_')) assert(opts.has(k), `${k} is an snnd option`);
  const stop = last('STOPSIGNAL');
  assert(!stop || stop.args === 'SIGTERM', 'STOPSIGNAL SIGTERM');
});

/* ------------------------------------------------------------- replay */
if (REPLAY) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'snnd-docker-'));
  const ctxFiles = contextFiles();
  const map = {};                  // image path prefix -> host dir
  let cwd = tmp;
  const host = (p, base) => (p.startsWith('/') ? path.join(tmp, 'root', p) : path.join(base, p));
  let built = false;

  await test(`replay the build stage natively (${build.ins.length} steps, ${ctxFiles.length} context files)`, () => {
    for (const i of build.ins) {
      if (i.cmd === 'WORKDIR') {
        cwd = host(i.args, cwd);
        fs.mkdirSync(cwd, { recursive: true });
        map[i.args] = cwd;
      } else if (i.cmd === 'COPY') {
        const c = copyArgs(i.args);
        const dest = host(c.dest, cwd);
        for (const src of c.srcs) {
          if (src === '.') {
            for (const f of ctxFiles) {
              fs.mkdirSync(path.dirname(path.join(dest, f)), { recursive: true });
              fs.copyFileSync(path.join(ROOT, f), path.join(dest, f));
              fs.chmodSync(path.join(dest, f), fs.statSync(path.join(ROOT, f)).mode);
            }
          } else {
            const to = c.dest.endsWith('/') ? path.join(dest, path.basename(src)) : dest;
            fs.mkdirSync(path.dirname(to), { recursive: true });
            fs.cpSync(path.join(ROOT, src), to, { recursive: true });
          }
        }
      } else if (i.cmd === 'RUN') {
        const t0 = Date.now();
        const p = spawnSync('/bin/sh', ['-c', i.args], {
          cwd, encoding: 'utf8', maxBuffer: 64 << 20,
          env: { ...process.env, MAKEFLAGS: `-j${os.availableParallelism ? os.availableParallelism() : 2}` },
        });
        console.log(`     RUN ${i.args}: exit ${p.status} in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
        eq(p.status, 0, `RUN ${i.args}\n${(p.stdout || '').slice(-2000)}${(p.stderr || '').slice(-2000)}`);
      } else if (!['ENV', 'ARG', 'LABEL'].includes(i.cmd)) {
        throw new Error(`Dockerfile:${i.line}: replay does not know ${i.cmd}`);
      }
    }
    assert(fs.existsSync(path.join(map['/src'] || cwd, 'build/snnd')), 'build/snnd produced');
    built = true;
  });

  const src = map['/src'] || cwd;
  const bin = path.join(src, 'build/snnd');

  await test('runtime libraries: every library build/snnd needs comes from install-deps.sh --runtime', () => {
    if (!built) throw new Error('no build');
    const deps = read('tools/install-deps.sh').match(/RUNTIME="([^"]*)"/);
    assert(deps, 'RUNTIME list in tools/install-deps.sh');
    const runtime = new Set(deps[1].split(/\s+/).filter(Boolean));
    const base = new Set(['libc6', 'libgcc-s1']);      // in every Debian image
    const ldd = execFileSync('ldd', [bin], { encoding: 'utf8' });
    const needed = execFileSync('objdump', ['-p', bin], { encoding: 'utf8' })
      .split('\n').filter((l) => /^\s*NEEDED/.test(l)).map((l) => l.trim().split(/\s+/)[1]);
    assert(needed.length > 3, `NEEDED entries: ${needed}`);
    for (const lib of needed) {
      const m = ldd.match(new RegExp(`${lib.replace(/[.+]/g, '\\$&')} => (\\S+)`));
      assert(m, `${lib} not resolved by ldd`);
      const real = fs.realpathSync(m[1]);
      const owner = spawnSync('dpkg', ['-S', real], { encoding: 'utf8' });
      let pkgs = owner.status === 0 ? owner.stdout.split(':')[0].split(',').map((s) => s.trim()) : [];
      if (!pkgs.length) {
        const o2 = spawnSync('dpkg', ['-S', m[1]], { encoding: 'utf8' });
        pkgs = o2.status === 0 ? o2.stdout.split(':')[0].split(',').map((s) => s.trim()) : [];
      }
      assert(pkgs.some((p) => runtime.has(p) || base.has(p)), `${lib} (${real}) comes from ${pkgs.join(',') || 'no package'}, not in --runtime`);
    }
    const chk = spawnSync(path.join(ROOT, 'tools/install-deps.sh'), ['--runtime', '--check'], { encoding: 'utf8' });
    eq(chk.status, 0, `install-deps.sh --runtime --check: ${chk.stdout}`);
  });

  await test('the image entrypoint: ENV + config serve, HEALTHCHECK passes, SIGTERM exits 0', async () => {
    if (!built) throw new Error('no build');
    const env = Object.assign({}, ...run.ins.filter((i) => i.cmd === 'ENV').map((i) => envPairs(i.args)));
    const port = await freePort();
    const cenv = {
      PATH: process.env.PATH,
      ...env,
      SNND_CONFIG: path.join(src, 'config/snnd.json'),
      SNND_MODELS: path.join(src, 'models'),
      SNND_HOST: '127.0.0.1',        // loopback only on this machine; the image says 0.0.0.0
      SNND_PORT: String(port),
    };
    // the shipped default model may not be in the repository yet
    const models = fs.readdirSync(cenv.SNND_MODELS).filter((d) => fs.existsSync(path.join(cenv.SNND_MODELS, d, 'config.json')));
    const def = JSON.parse(fs.readFileSync(cenv.SNND_CONFIG, 'utf8')).default_model;
    if (!models.includes(def)) cenv.SNND_DEFAULT_MODEL = models[0];
    const p = spawn(bin, [], { env: cenv, stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    p.stdout.on('data', (d) => { log += d; });
    p.stderr.on('data', (d) => { log += d; });
    const exited = new Promise((resolve) => p.on('exit', (code, sig) => resolve({ code, sig })));
    const hc = run.ins.filter((i) => i.cmd === 'HEALTHCHECK').pop();
    const argv = execForm(hc.args.replace(/^(?:--\S+\s+)*CMD\s+/, ''));
    let ok = false;
    for (let t = 0; t < 100 && !ok; t++) {
      const r = spawnSync(argv[0], argv.slice(1), { env: cenv, encoding: 'utf8', timeout: 3000 });
      ok = r.status === 0;
      if (!ok) await new Promise((r2) => setTimeout(r2, 200));
    }
    assert(ok, `HEALTHCHECK never passed:\n${log}`);
    const r = await fetch(`http://127.0.0.1:${port}/readyz`);
    const ready = r.status;
    const until = Date.now() + 60000;
    let rs = ready;
    while (rs !== 200 && Date.now() < until) {
      await new Promise((r2) => setTimeout(r2, 250));
      rs = (await fetch(`http://127.0.0.1:${port}/readyz`)).status;
    }
    eq(rs, 200, `readiness with the image's config (${log.slice(-500)})`);
    p.kill('SIGTERM');
    const ex = await Promise.race([exited, new Promise((r2) => setTimeout(() => r2({ code: 'timeout' }), 15000))]);
    if (ex.code === 'timeout') p.kill('SIGKILL');
    eq(ex.code, 0, `exit status after SIGTERM (${log.slice(-300)})`);
  });
  fs.rmSync(tmp, { recursive: true, force: true });
}

process.exit(summary());
