// page.test.mjs: the snnd page in a real browser.
//
// Starts build/snnd on a free loopback port (--port 0, the port is read from
// its startup log line), opens the page in headless Chromium (Debian's
// /usr/bin/chromium, driven by playwright-core; no browser download), uploads a
// test image, sets steps / synapse / firing-rate scale, runs it and checks that
// the probability chart reaches the final step and shows the same prediction
// (and final probabilities) as POST /v1/models/{m}/classify answers for the
// same bytes and parameters. Screenshots go to tests/artifacts/.
//
// Environment: SNND (binary, default build/snnd), SNND_MODELS (default
// models), CHROMIUM (default /usr/bin/chromium), ARTIFACTS (default
// tests/artifacts). Prints "N passed, N failed" last; exit status 1 on failure.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SNND = process.env.SNND || path.join(ROOT, 'build/snnd');
const MODELS = process.env.SNND_MODELS || path.join(ROOT, 'models');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARTIFACTS = process.env.ARTIFACTS || path.join(ROOT, 'tests/artifacts');

let passed = 0, failed = 0;
async function test(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    passed++;
    console.log(`ok   ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e && e.stack ? e.stack : e}`);
  }
}
function assert(cond, msg) { if (!cond) throw new Error(`assertion failed: ${msg}`); }
function eq(a, b, msg) { if (a !== b) throw new Error(`${msg}: got ${JSON.stringify(a)}, want ${JSON.stringify(b)}`); }

// ------------------------------------------------------------------ snnd
function startSnnd() {
  return new Promise((resolve, reject) => {
    const args = ['--host', '127.0.0.1', '--port', '0', '--models', MODELS, '--workers', '2'];
    const p = spawn(SNND, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    const timer = setTimeout(() => reject(new Error(`snnd did not report its port:\n${log}`)), 20000);
    const onData = (d) => {
      log += d;
      const m = log.match(/listening on [^\s]*:(\d+)/);
      if (m) {
        clearTimeout(timer);
        resolve({ proc: p, port: Number(m[1]), log: () => log });
      }
    };
    p.stdout.on('data', onData);
    p.stderr.on('data', onData);
    p.on('error', (e) => { clearTimeout(timer); reject(e); });
    p.on('exit', (code) => { clearTimeout(timer); reject(new Error(`snnd exited ${code}:\n${log}`)); });
  });
}

function rawStatus(port, p) {
  return new Promise((resolve, reject) => {
    const rq = http.get({ host: '127.0.0.1', port, path: p }, (res) => { res.resume(); resolve(res.statusCode); });
    rq.on('error', reject);
  });
}

async function waitReady(base, seconds) {
  const until = Date.now() + seconds * 1000;
  while (Date.now() < until) {
    try {
      const r = await fetch(`${base}/readyz`);
      if (r.status === 200) return;
    } catch (e) { /* not yet */ }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`snnd not ready after ${seconds} s`);
}

// ------------------------------------------------------------------ main
const srv = await startSnnd();
const base = `http://127.0.0.1:${srv.port}`;
const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'snnd-chromium-'));
let ctx = null;
try {
  await waitReady(base, 120);
  const models = await (await fetch(`${base}/v1/models`)).json();
  const ready = models.models.filter((m) => m.state === 'READY');
  assert(ready.length > 0, 'snnd serves at least one model');
  fs.mkdirSync(ARTIFACTS, { recursive: true });

  await test('GET / serves the page, /static/ its typed files, nothing outside them', async () => {
    let r = await fetch(`${base}/`, { headers: { Accept: 'text/html,application/xhtml+xml,*/*;q=0.8' } });
    eq(r.status, 200, 'status of GET /');
    assert(r.headers.get('content-type').startsWith('text/html'), `content type ${r.headers.get('content-type')}`);
    assert((await r.text()).includes('<script src="/static/app.js">'), 'page references app.js');
    for (const [p, t] of [['/static/app.js', 'text/javascript'], ['/static/style.css', 'text/css'],
                          ['/static/samples/index.json', 'application/json']]) {
      r = await fetch(`${base}${p}`);
      eq(r.status, 200, `status of ${p}`);
      assert(r.headers.get('content-type').startsWith(t), `${p} content type ${r.headers.get('content-type')}`);
    }
    // Raw paths (fetch would normalise the dots away).
    for (const p of ['/static/nope.js', '/static/..%2fserver.h', '/static/samples/../app.js',
                     '/static/./app.js', '/static/samples/./index.json']) {
      const status = await rawStatus(srv.port, p);
      assert(status === 404, `${p} is 404, got ${status}`);
    }
  });

  ctx = await chromium.launchPersistentContext(userDir, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1360, height: 940 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = ctx.pages()[0] || await ctx.newPage();
  const consoleErrors = [];
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  const jobUrls = [];
  page.on('request', (rq) => { if (rq.method() === 'POST' && rq.url().includes('/v1/jobs')) jobUrls.push(rq.url()); });

  let model = null;
  await test('the page loads and lists the served models', async () => {
    await page.goto(`${base}/`);
    await page.waitForFunction(() => document.querySelector('#model').options.length > 0
                               && document.querySelector('#raster-layer').options.length > 0, null, { timeout: 15000 });
    const names = await page.$$eval('#model option', (os) => os.map((o) => o.value));
    eq(names.join(','), models.models.map((m) => m.name).join(','), 'model options');
    model = await page.$eval('#model', (s) => s.value);
    assert(ready.some((m) => m.name === model), `selected model ${model} is ready`);
    const layers = await page.$$eval('#raster-layer option', (os) => os.map((o) => o.value));
    assert(layers.length >= 2, `raster layer choices: ${layers}`);
    eq(consoleErrors.length, 0, `console errors ${consoleErrors.join(' | ')}`);
  });

  // The test image: a sample of the model's own dataset when there is one,
  // else a pattern of exactly the model's input size drawn by the browser.
  const samples = JSON.parse(fs.readFileSync(path.join(ROOT, 'web/samples/index.json'), 'utf8'));
  const m = ready.find((x) => x.name === model) || ready[0];
  const sample = samples.find((s) => s.dataset === model && s.class !== 0);
  let imgPath;
  if (sample) {
    imgPath = path.join(ROOT, 'web/samples', sample.file);
  } else {
    const url = await page.evaluate(([w, h]) => {
      const c = document.createElement('canvas');
      c.width = w;
      c.height = h;
      const g = c.getContext('2d');
      g.fillStyle = '#000';
      g.fillRect(0, 0, w, h);
      g.fillStyle = '#fff';
      g.fillRect(Math.floor(w / 4), Math.floor(h / 8), Math.max(1, Math.floor(w / 2)), Math.max(1, Math.floor((3 * h) / 4)));
      return c.toDataURL('image/png');
    }, [m.input.width, m.input.height]);
    imgPath = path.join(ARTIFACTS, 'test-input.png');
    fs.writeFileSync(imgPath, Buffer.from(url.split(',')[1], 'base64'));
  }
  // Parameters the page sends: only what the model lets a request override.
  const ov = new Set(m.overridable || []);
  const steps = ov.has('steps') ? Math.min(m.max_steps || 40, 40) : m.steps;
  const params = {};
  if (ov.has('steps')) params.steps = String(steps);
  if (ov.has('synapse')) params.synapse = '0.01';
  if (ov.has('scale_firing_rates')) params.scale_firing_rates = '30';
  const field = { steps: '#steps', synapse: '#synapse', scale_firing_rates: '#scale' };

  let pageResult = null;
  await test(`upload ${path.basename(imgPath)}, run ${steps} steps: the chart reaches the last step`, async () => {
    await page.setInputFiles('#file', imgPath);
    await page.waitForFunction(() => document.querySelector('#image-info').textContent.includes('×'));
    for (const [k, v] of Object.entries(params)) await page.fill(field[k], v);
    await page.click('#run');
    await page.waitForFunction(() => ['done', 'error'].includes(document.querySelector('#probs').dataset.state),
                               null, { timeout: 60000 });
    const st = await page.$eval('#probs', (c) => ({ ...c.dataset }));
    const banner = await page.$eval('#banner', (b) => (b.hidden ? '' : b.textContent));
    eq(st.state, 'done', `chart state (banner: ${banner})`);
    eq(st.step, String(steps), 'chart step');
    eq(st.steps, String(steps), 'chart steps');
    eq(await page.$eval('#step-label', (e) => e.textContent), `step ${steps} / ${steps}`, 'step label');
    pageResult = await page.$eval('#prediction', (e) => ({ index: e.dataset.index, label: e.dataset.label, text: e.textContent }));
    const q = new URL(jobUrls[jobUrls.length - 1]).searchParams;
    for (const [k, v] of Object.entries(params)) eq(q.get(k), v, `query ${k} sent by the page`);
    eq(q.get('model'), model, 'query model');
    await page.screenshot({ path: path.join(ARTIFACTS, 'page.png'), fullPage: true });
  });

  await test('the page shows the prediction the API gives for the same image and parameters', async () => {
    assert(pageResult, 'the run finished');
    const qs = new URLSearchParams(params);
    const r = await fetch(`${base}/v1/models/${encodeURIComponent(model)}/classify?${qs}`, {
      method: 'POST', headers: { 'Content-Type': 'image/png' }, body: fs.readFileSync(imgPath),
    });
    eq(r.status, 200, 'classify status');
    const api = await r.json();
    eq(api.steps, steps, 'API steps');
    const conv = JSON.stringify(api.conversion);
    if (params.synapse) assert(api.conversion.synapse === 0.01, `API conversion ${conv}`);
    if (params.scale_firing_rates) assert(api.conversion.scale_firing_rates === 30, `API conversion ${conv}`);
    eq(pageResult.index, String(api.prediction.index), 'prediction index');
    eq(pageResult.label, api.prediction.label, 'prediction label');
    eq(pageResult.text, api.prediction.label, 'prediction shown');
    // The final row of the page's chart equals the API's last probabilities.
    const legend = await page.$$eval('#legend .v', (vs) => vs.map((v) => Number(v.textContent)));
    const last = api.probabilities[api.probabilities.length - 1];
    eq(legend.length, last.length, 'legend entries');
    for (let c = 0; c < last.length; c++)
      assert(Math.abs(legend[c] - last[c]) < 1.5e-3, `class ${c}: page ${legend[c]} vs API ${last[c]}`);
  });

  await test('raster, spike counts per layer and energy are drawn from the result', async () => {
    const layerRows = await page.$$eval('#layers .row .name', (ns) => ns.map((n) => n.textContent));
    assert(layerRows.length >= 1, 'one bar per neuron layer');
    const energyRows = await page.$$eval('#energy .device', (ds) => ds.map((d) => d.textContent));
    assert(energyRows.length >= 1, `energy devices ${energyRows}`);
    assert(energyRows.some((t) => /× ANN/.test(t)), `energy ratio shown: ${energyRows}`);
    const inked = await page.$eval('#raster', (c) => {
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
      return n;
    });
    assert(inked > 500, `raster canvas has ink (${inked} pixels)`);
    assert((await page.$eval('#raster-info', (e) => e.textContent)).includes('sampled neurons'), 'raster caption');
  });

  await test('a sample click runs too, and a refused request shows the server error', async () => {
    await page.click('#samples button');
    await page.waitForFunction(() => document.querySelector('#samples button.selected') !== null);
    await page.fill('#raster-neurons', '100000');     // over max-raster-neurons: a 400
    await page.click('#run');
    await page.waitForFunction(() => document.querySelector('#probs').dataset.state === 'error', null, { timeout: 20000 });
    const banner = await page.$eval('#banner', (b) => b.textContent);
    assert(/raster/.test(banner), `banner names the problem: ${banner}`);
    await page.fill('#raster-neurons', '32');
    const second = ov.has('steps') ? 10 : steps;
    if (ov.has('steps')) await page.fill('#steps', String(second));
    await page.click('#run');
    await page.waitForFunction(() => document.querySelector('#probs').dataset.state === 'done', null, { timeout: 60000 });
    eq(await page.$eval('#probs', (c) => c.dataset.step), String(second), 'second run reaches the last step');
    eq(await page.$eval('#banner', (b) => b.hidden), true, 'banner cleared');
    await page.screenshot({ path: path.join(ARTIFACTS, 'page-sample.png'), fullPage: true });
  });

  await test('no console errors in the whole session', async () => {
    const real = consoleErrors.filter((t) => !/status of 400/.test(t));   // the refused run above
    eq(real.length, 0, `console errors: ${real.join(' | ')}`);
  });
} catch (e) {
  failed++;
  console.log(`FAIL setup: ${e && e.stack ? e.stack : e}\n${srv.log()}`);
} finally {
  if (ctx) await ctx.close();
  srv.proc.removeAllListeners('exit');
  srv.proc.kill('SIGTERM');
  fs.rmSync(userDir, { recursive: true, force: true });
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
