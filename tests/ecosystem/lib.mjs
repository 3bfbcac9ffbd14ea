// lib.mjs: what the ecosystem checks share: a tiny test counter, starting
// build/snnd on a free loopback port, free ports, YAML/JSON loading, and the
// metric and option names the daemon declares (read from its one table each:
// server/metrics.c and server/config.c), so manifests are checked against
// what the code really exports.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const SNND = process.env.SNND || path.join(ROOT, 'build/snnd');
export const MODELS = process.env.SNND_MODELS || path.join(ROOT, 'models');

let passed = 0, failed = 0, skipped = 0;
export async function test(name, fn) {
  const t0 = Date.now();
  try {
    const r = await fn();
    if (r === 'skip') {
      skipped++;
      console.log(`skip ${name}`);
      return;
    }
    passed++;
    console.log(`ok   ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e && e.message ? e.message : e}`);
  }
}
export function summary() {
  console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
  return failed ? 1 : 0;
}
export function assert(cond, msg) { if (!cond) throw new Error(msg); }
export function eq(a, b, msg) {
  if (a !== b) throw new Error(`${msg}: got ${JSON.stringify(a)}, want ${JSON.stringify(b)}`);
}

export function read(rel) { return fs.readFileSync(path.join(ROOT, rel), 'utf8'); }
export function yamlDocs(rel) {
  return YAML.parseAllDocuments(read(rel)).map((d) => {
    if (d.errors.length) throw new Error(`${rel}: ${d.errors[0].message}`);
    return d.toJS();
  }).filter((d) => d !== null);
}
export function yaml1(rel) {
  const docs = yamlDocs(rel);
  assert(docs.length === 1, `${rel}: expected one YAML document, got ${docs.length}`);
  return docs[0];
}

// Metric families of server/metrics.c's table: name -> type.
export function daemonMetrics() {
  const src = read('server/metrics.c');
  const out = new Map();
  for (const m of src.matchAll(/\{SRV_M_[A-Z_]+,\s*"([a-z_:]+)",\s*MT_([A-Z]+)/g)) out.set(m[1], m[2].toLowerCase());
  assert(out.size >= 5, 'server/metrics.c: metric table not found');
  return out;
}
// Every series name a family exposes (histograms: _bucket, _sum, _count).
export function daemonSeriesNames() {
  const s = new Set();
  for (const [n, t] of daemonMetrics()) {
    if (t === 'histogram') ['_bucket', '_sum', '_count'].forEach((x) => s.add(n + x));
    else s.add(n);
  }
  return s;
}
// SNND_* environment variables of server/config.c's option table.
export function daemonEnvVars() {
  const src = read('server/config.c');
  const start = src.indexOf('srv_options[] = {');
  assert(start >= 0, 'server/config.c: options table not found');
  const table = src.slice(start, src.indexOf('};', start));
  const out = new Set(['SNND_CONFIG']);
  for (const m of table.matchAll(/\{"([a-z0-9-]+)",\s*OPT_/g)) out.add('SNND_' + m[1].toUpperCase().replace(/-/g, '_'));
  assert(out.size > 5, 'server/config.c: no options parsed');
  return out;
}
// snnd_* names used in a PromQL expression (recording-rule names excluded).
export function promqlMetricNames(expr) {
  return [...new Set([...expr.matchAll(/(?<![:\w])(snnd_[a-z_]+)\b/g)].map((m) => m[1]))];
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// Start snnd on 127.0.0.1 with --port 0; resolves once /readyz is 200.
export async function startSnnd(extra = []) {
  const args = ['--host', '127.0.0.1', '--port', '0', '--models', MODELS, ...extra];
  const p = spawn(SNND, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`snnd did not report its port:\n${log}`)), 20000);
    const onData = (d) => {
      log += d;
      const m = log.match(/listening on [^\s]*:(\d+)/);
      if (m) { clearTimeout(timer); resolve(Number(m[1])); }
    };
    p.stdout.on('data', onData);
    p.stderr.on('data', onData);
    p.on('error', (e) => { clearTimeout(timer); reject(e); });
    p.on('exit', (c) => { clearTimeout(timer); reject(new Error(`snnd exited ${c}:\n${log}`)); });
  });
  const base = `http://127.0.0.1:${port}`;
  const until = Date.now() + 120000;
  for (;;) {
    try { if ((await fetch(`${base}/readyz`)).status === 200) break; } catch (e) { /* not yet */ }
    if (Date.now() > until) throw new Error(`snnd not ready:\n${log}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    port, base, log: () => log,
    stop() { p.removeAllListeners('exit'); p.kill('SIGTERM'); },
  };
}

// A test image for a model: a sample of its own dataset if web/samples has
// one, else the first sample (snnd converts channels and resizes).
export function sampleFor(model) {
  const idx = JSON.parse(read('web/samples/index.json'));
  const s = idx.find((x) => x.dataset === model) || idx[0];
  return fs.readFileSync(path.join(ROOT, 'web/samples', s.file));
}
