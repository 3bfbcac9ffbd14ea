// prometheus.mjs: the real Prometheus server (Debian package) scrapes a
// running snnd on loopback.
//
// Starts snnd (free port) and prometheus (temporary config + storage,
// free port, scrape every 1 s, loading deploy/alerts.yml), sends N good and
// M bad /classify requests, then asks Prometheus' HTTP API for
// snnd_requests_total and wants exactly N with code="200" and M with
// code="400" for the model; checks the rules of deploy/alerts.yml loaded
// and every PromQL expression of the Grafana dashboard evaluates without
// error (and the request-rate ones return data). Also lints /metrics with
// `promtool check metrics`.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, assert, eq, freePort, read, sampleFor, startSnnd, summary, test } from './lib.mjs';

const PROMETHEUS = process.env.PROMETHEUS || 'prometheus';
const GOOD = 7, BAD = 3;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let snnd = null, prom = null;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'snnd-prom-'));

async function query(base, q) {
  const r = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(q)}`);
  const j = await r.json();
  if (j.status !== 'success') throw new Error(`${q}: ${j.error || r.status}`);
  return j.data.result;
}

try {
  snnd = await startSnnd(['--workers', '2']);
  const models = await (await fetch(`${snnd.base}/v1/models`)).json();
  const model = models.models.find((m) => m.state === 'READY').name;
  const img = sampleFor(model);

  await test('promtool check metrics accepts /metrics', async () => {
    // one inference first, so that histograms and labelled series exist
    const r = await fetch(`${snnd.base}/v1/models/${model}/classify?steps=5`,
                          { method: 'POST', headers: { 'Content-Type': 'image/png' }, body: img });
    eq(r.status, 200, 'warm-up classify');
    const text = await (await fetch(`${snnd.base}/metrics`)).text();
    const p = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    eq(p.status, 0, `promtool check metrics: ${p.stdout}${p.stderr}`);
  });

  const pport = await freePort();
  const pbase = `http://127.0.0.1:${pport}`;
  fs.writeFileSync(path.join(tmp, 'prometheus.yml'), [
    'global:',
    '  scrape_interval: 1s',
    '  evaluation_interval: 1s',
    'rule_files:',
    `  - ${path.join(ROOT, 'deploy/alerts.yml')}`,
    'scrape_configs:',
    '  - job_name: snnd',
    '    static_configs:',
    `      - targets: ["127.0.0.1:${snnd.port}"]`,
    '',
  ].join('\n'));
  let plog = '';
  prom = spawn(PROMETHEUS, [
    `--config.file=${path.join(tmp, 'prometheus.yml')}`,
    `--storage.tsdb.path=${path.join(tmp, 'data')}`,
    `--web.listen-address=127.0.0.1:${pport}`,
    '--log.level=warn',
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  prom.stdout.on('data', (d) => { plog += d; });
  prom.stderr.on('data', (d) => { plog += d; });

  await test('prometheus starts and scrapes snnd (up == 1)', async () => {
    const until = Date.now() + 30000;
    for (;;) {
      try {
        const r = await query(pbase, 'up{job="snnd"}');
        if (r.length && r[0].value[1] === '1') return;
      } catch (e) { /* not up yet */ }
      if (Date.now() > until) throw new Error(`target never up; prometheus log:\n${plog}`);
      await sleep(300);
    }
  });

  await test(`the request counter reaches ${GOOD} (200) and ${BAD} (400) for ${model}`, async () => {
    // the warm-up request above counts too: expect GOOD including it
    for (let i = 1; i < GOOD; i++) {
      const r = await fetch(`${snnd.base}/v1/models/${model}/classify?steps=10`,
                            { method: 'POST', headers: { 'Content-Type': 'image/png' }, body: img });
      eq(r.status, 200, 'classify');
    }
    for (let i = 0; i < BAD; i++) {
      const r = await fetch(`${snnd.base}/v1/models/${model}/classify`,
                            { method: 'POST', headers: { 'Content-Type': 'image/png' }, body: 'not a png' });
      eq(r.status, 400, 'bad image');
    }
    const want = { 200: GOOD, 400: BAD };
    const until = Date.now() + 20000;
    let got = null;
    for (;;) {
      const r = await query(pbase, `sum by (code) (snnd_requests_total{job="snnd", model="${model}"})`);
      got = Object.fromEntries(r.map((s) => [s.metric.code, Number(s.value[1])]));
      if (got[200] === want[200] && got[400] === want[400]) break;
      if (Date.now() > until) throw new Error(`counter ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
      await sleep(300);
    }
    const lat = await query(pbase, `sum(snnd_request_duration_seconds_count{model="${model}"})`);
    eq(Number(lat[0].value[1]), GOOD + BAD, 'latency histogram count');
    const spikes = await query(pbase, `sum(snnd_spikes_total{model="${model}"})`);
    assert(Number(spikes[0].value[1]) > 0, 'spikes counted');
  });

  await test('deploy/alerts.yml rules load in prometheus and evaluate healthy', async () => {
    const r = await (await fetch(`${pbase}/api/v1/rules`)).json();
    const groups = r.data.groups.map((g) => g.name).sort();
    eq(groups.join(','), 'snnd.alerts,snnd.recording', 'rule groups');
    const bad = r.data.groups.flatMap((g) => g.rules).filter((x) => x.health !== 'ok' && x.health !== 'unknown');
    eq(bad.length, 0, `unhealthy rules ${JSON.stringify(bad.map((x) => [x.name, x.lastError]))}`);
    const firing = r.data.groups.flatMap((g) => g.rules).filter((x) => x.type === 'alerting' && x.state !== 'inactive');
    eq(firing.length, 0, `alerts active on a healthy server: ${firing.map((x) => x.name)}`);
  });

  await test('every Grafana dashboard query evaluates against live data', async () => {
    const dash = JSON.parse(read('deploy/grafana/dashboards/snnd.json'));
    let withData = 0, n = 0;
    for (const p of dash.panels) {
      for (const t of p.targets || []) {
        const q = t.expr.replace(/\$__rate_interval/g, '1m').replace(/\$model/g, '.*').replace(/\$instance/g, '.*');
        const r = await query(pbase, q);
        n++;
        if (r.length) withData++;
        if (/snnd_requests_total|snnd_spikes_total|snnd_queue_depth/.test(q))
          assert(r.length > 0, `no data for "${p.title}": ${q}`);
      }
    }
    assert(n >= 8, `dashboard queries: ${n}`);
    console.log(`     ${withData}/${n} dashboard queries returned series`);
  });
} catch (e) {
  await test('setup', () => { throw e; });
} finally {
  if (prom) prom.kill('SIGTERM');
  if (snnd) snnd.stop();
  await sleep(300);
  fs.rmSync(tmp, { recursive: true, force: true });
}
process.exit(summary());
