// openapi.mjs: openapi.yaml against a linter and against the live daemon.
//
//  1. lint: Redocly CLI (pinned in package-lock.json), recommended rules
//     (tests/ecosystem/redocly.yaml); errors fail, warnings are listed.
//  2. live: build/snnd runs on a free loopback port and every operation of
//     openapi.yaml is called (good and bad requests); each answer's status
//     must be documented for that operation, its content type documented for
//     that status, and a JSON body must validate (ajv, pinned) against the
//     schema, made strict: every object schema with `properties` is closed
//     (additionalProperties: false after merging allOf), so a field the
//     daemon sends but the document does not describe fails. SSE streams
//     are parsed and their `result` / `error` event data validated too.
//     Every operation must have been answered 2xx at least once.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import YAML from 'yaml';
import { ROOT, assert, eq, sampleFor, startSnnd, summary, test } from './lib.mjs';

const TOKEN = 'ecosystem-admin-token';
const OPENAPI = process.env.OPENAPI || path.join(ROOT, 'openapi.yaml');   // another file: for testing this test
let spec = null;

await test('openapi.yaml passes the Redocly linter (recommended rules, no errors)', () => {
  const bin = path.join(ROOT, 'tests/ecosystem/node_modules/.bin/redocly');
  const p = spawnSync(bin, ['lint', OPENAPI, '--format=stylish',
                            `--config=${path.join(ROOT, 'tests/ecosystem/redocly.yaml')}`], {
    encoding: 'utf8', timeout: 120000,
    env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_COLOR: '1' },
  });
  const out = `${p.stdout}${p.stderr}`.split('\n').filter((l) => !/[║╔╚]/.test(l)).join('\n');
  const errors = out.split('\n').filter((l) => /\berror\b/.test(l) && /^\s*\d+:\d+/.test(l));
  const warnings = out.split('\n').filter((l) => /\bwarning\b/.test(l) && /^\s*\d+:\d+/.test(l));
  if (warnings.length) console.log(`     ${warnings.length} lint warnings (${[...new Set(warnings.map((w) => w.trim().split(/\s+/)[2]))].join(', ')})`);
  assert(p.status === 0 && errors.length === 0, `redocly lint exit ${p.status}, ${errors.length} errors:\n${errors.slice(0, 12).join('\n')}`);
});

await test('openapi.yaml parses as OpenAPI 3', () => {
  spec = YAML.parse(fs.readFileSync(OPENAPI, 'utf8'), { merge: true });
  assert(/^3\./.test(spec.openapi), `openapi ${spec.openapi}`);
  assert(Object.keys(spec.paths).length > 10, 'paths');
});

/* ---------------------------------------------------- schema handling */
function deref(node, seen = []) {
  if (Array.isArray(node)) return node.map((x) => deref(x, seen));
  if (!node || typeof node !== 'object') return node;
  if (node.$ref) {
    assert(node.$ref.startsWith('#/'), `external $ref ${node.$ref}`);
    assert(!seen.includes(node.$ref), `recursive $ref ${node.$ref}`);
    const target = node.$ref.slice(2).split('/').reduce((o, k) => o && o[k.replace(/~1/g, '/').replace(/~0/g, '~')], spec);
    assert(target !== undefined, `dangling $ref ${node.$ref}`);
    return deref(target, [...seen, node.$ref]);
  }
  const out = {};
  for (const [k, v] of Object.entries(node)) out[k] = deref(v, seen);
  return out;
}
// OpenAPI 3.0 schema -> strict JSON schema: allOf of objects merged,
// objects with properties closed, `nullable` honoured, doc-only keywords dropped.
function strict(s) {
  if (Array.isArray(s)) return s.map(strict);
  if (!s || typeof s !== 'object') return s;
  let o = { ...s };
  delete o.example;
  delete o.xml;
  delete o.externalDocs;
  delete o.deprecated;
  if (o.allOf && o.allOf.every((x) => x.type === 'object' || x.properties || x.allOf)) {
    const parts = o.allOf.map(strict);
    const merged = { type: 'object', properties: {}, required: [] };
    for (const p of parts) {
      Object.assign(merged.properties, p.properties || {});
      merged.required.push(...(p.required || []));
    }
    delete o.allOf;
    o = { ...o, ...merged, properties: { ...merged.properties } };
  }
  for (const k of ['properties', 'patternProperties']) {
    if (o[k]) o[k] = Object.fromEntries(Object.entries(o[k]).map(([n, v]) => [n, strict(v)]));
  }
  for (const k of ['items', 'additionalProperties', 'not']) if (o[k] && typeof o[k] === 'object') o[k] = strict(o[k]);
  for (const k of ['oneOf', 'anyOf', 'allOf']) if (o[k]) o[k] = o[k].map(strict);
  if (o.properties && o.additionalProperties === undefined) o.additionalProperties = false;
  if (o.required && !o.required.length) delete o.required;
  if (o.nullable) {
    delete o.nullable;
    if (o.type) o.type = [].concat(o.type, 'null');
  }
  return o;
}

const ajv = new Ajv({ strict: false, allErrors: true });
const errText = (errs) => errs.map((e) => `${e.instancePath || '/'} ${e.message}` +
  (e.params && e.params.additionalProperty ? ` (${e.params.additionalProperty})` : '')).join('; ');
addFormats(ajv);
ajv.addFormat('binary', true);

function findOperation(method, urlPath) {
  for (const [tpl, item] of Object.entries(spec.paths)) {
    const rx = new RegExp(`^${tpl.replace(/[.+]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+')}$`);
    if (rx.test(urlPath) && item[method.toLowerCase()]) return { tpl, op: item[method.toLowerCase()] };
  }
  return null;
}
const baseType = (ct) => (ct || '').split(';')[0].trim().toLowerCase();
// A documented media type or range ("*/*", "image/*") covers the answer's type.
const covers = (doc, ct) => {
  const [d, a] = [baseType(doc), baseType(ct)];
  return d === a || d === '*/*' || (d.endsWith('/*') && a.startsWith(d.slice(0, -1)));
};

const covered = new Map();      // "METHOD tpl" -> statuses seen
const problems = [];

// Events as EventSource dispatches them: a block without a data field (a
// comment, or the stream's `retry:`) is not an event.
function parseSSE(text) {
  return text.split(/\n\n/).filter((b) => b.trim() && !b.startsWith(':')).map((b) => {
    const ev = { event: 'message', id: null, data: null };
    for (const line of b.split('\n')) {
      const i = line.indexOf(':');
      const k = line.slice(0, i), v = line.slice(i + 1).replace(/^ /, '');
      if (k === 'event') ev.event = v;
      else if (k === 'id') ev.id = Number(v);
      else if (k === 'data') ev.data = (ev.data === null ? '' : `${ev.data}\n`) + v;
    }
    return ev;
  }).filter((ev) => ev.data !== null);
}

// One call: checks the answer against the document; returns {status, json, text, headers}.
async function call(base, method, urlPath, { body, headers = {}, query = '', expect } = {}) {
  const r = await fetch(`${base}${urlPath}${query ? `?${query}` : ''}`, { method, body, headers });
  const text = await r.text();
  const ct = r.headers.get('content-type');
  const where = `${method} ${urlPath}${query ? `?${query}` : ''} -> ${r.status}`;
  const found = findOperation(method, urlPath);
  const fail = (m) => problems.push(`${where}: ${m}`);
  if (expect !== undefined && r.status !== expect) fail(`expected status ${expect} (${text.slice(0, 200)})`);
  if (!found) { fail('operation not in openapi.yaml'); return { status: r.status, text }; }
  const key = `${method} ${found.tpl}`;
  if (!covered.has(key)) covered.set(key, new Set());
  covered.get(key).add(r.status);
  let resp = found.op.responses[String(r.status)] || found.op.responses[`${String(r.status)[0]}XX`] || found.op.responses.default;
  if (!resp) { fail(`status ${r.status} not documented`); return { status: r.status, text }; }
  resp = deref(resp);
  for (const h of Object.keys(resp.headers || {}))
    if (!r.headers.get(h)) fail(`documented header ${h} missing`);
  if (r.status === 503 && !r.headers.get('retry-after')) fail('503 without Retry-After');
  let json = null;
  if (resp.content) {
    const mt = Object.keys(resp.content).find((k) => baseType(k) === baseType(ct)) || Object.keys(resp.content).find((k) => covers(k, ct));
    if (!mt) fail(`content type ${ct} not documented (${Object.keys(resp.content)})`);
    else if (baseType(ct) === 'application/json') {
      try { json = JSON.parse(text); } catch (e) { fail('body is not JSON'); }
      const schema = resp.content[mt].schema;
      if (json !== null && schema) {
        const v = ajv.compile(strict(deref(schema)));
        if (!v(json)) fail(`schema: ${errText(v.errors)}`);
      }
    }
  } else if (text.length && r.status !== 404) {
    fail(`undocumented body (${ct}, ${text.length} bytes)`);
  }
  return { status: r.status, json, text, headers: r.headers };
}

function validateNamed(name, data, where) {
  const v = ajv.compile(strict(deref({ $ref: `#/components/schemas/${name}` })));
  if (!v(data)) problems.push(`${where}: ${name}: ${errText(v.errors)}`);
}

if (spec) {
  let snnd = null;
  try {
    // which model: the first one of the repository that loads
    const probe = await startSnnd(['--workers', '1']);
    const list = await (await fetch(`${probe.base}/v1/models`)).json();
    probe.stop();
    const m = list.models.find((x) => x.state === 'READY');
    assert(m, 'a model loads');
    snnd = await startSnnd(['--workers', '2', '--default-model', m.name, '--admin-token', TOKEN]);
    const b = snnd.base;
    const png = sampleFor(m.name);
    const name = encodeURIComponent(m.name);
    const layer = (await (await fetch(`${b}/v1/models/${name}`)).json()).layers.find((l) => l.kind === 'neurons').name;
    const img = { 'Content-Type': 'image/png' };

    await test('every answer of the live daemon matches openapi.yaml (status, headers, content type, strict schema)', async () => {
      // pages and health
      await call(b, 'GET', '/', { expect: 200 });
      await call(b, 'GET', '/static/app.js', { expect: 200 });
      await call(b, 'GET', '/static/no-such-file.js', { expect: 404 });
      await call(b, 'GET', '/healthz', { expect: 200 });
      await call(b, 'GET', '/readyz', { expect: 200 });
      await call(b, 'GET', '/metrics', { expect: 200 });
      // models
      await call(b, 'GET', '/v1/models', { expect: 200 });
      await call(b, 'GET', `/v1/models/${name}`, { expect: 200 });
      await call(b, 'GET', '/v1/models/no-such-model', { expect: 404 });
      await call(b, 'GET', '/v1/models/bad..name', { expect: 400 });
      // classify
      await call(b, 'POST', '/classify', { body: png, headers: img, expect: 200, query: 'steps=8' });
      await call(b, 'POST', `/v1/models/${name}/classify`, {
        body: png, headers: img, expect: 200,
        query: `steps=12&top_k=3&spike_stats=1&raster=${layer}:16&energy=all&synapse=0.01&scale_firing_rates=25`,
      });
      const b64 = png.toString('base64');
      await call(b, 'POST', `/v1/models/${name}/classify`, {
        body: JSON.stringify({ images: [b64, b64], steps: 6 }), headers: { 'Content-Type': 'application/json' }, expect: 200,
      });
      await call(b, 'POST', '/classify', { body: 'not an image', headers: img, expect: 400 });
      await call(b, 'POST', '/classify', { body: 'x', headers: { 'Content-Type': 'text/plain' }, expect: 415 });
      await call(b, 'POST', '/classify', { body: png, headers: img, query: 'steps=999999', expect: 400 });
      await call(b, 'POST', '/v1/models/no-such-model/classify', { body: png, headers: img, expect: 404 });
      // streamed classify: parse the events, validate the result
      const s = await call(b, 'POST', `/v1/models/${name}/classify`, {
        body: png, headers: { ...img, Accept: 'text/event-stream' }, query: 'steps=5', expect: 200,
      });
      const evs = parseSSE(s.text);
      eq(evs.filter((e) => e.event === 'timestep').length, 5, 'timestep events');
      eq(evs[evs.length - 1].event, 'result', 'last event');
      evs.forEach((e, i) => eq(e.id, i + 1, 'event ids'));
      validateNamed('ClassifyResult', JSON.parse(evs[evs.length - 1].data), 'SSE result event');
      // jobs
      const j = await call(b, 'POST', '/v1/jobs', { body: png, headers: img, query: `model=${name}&steps=7&spike_stats=1`, expect: 202 });
      let st = null;
      for (let t = 0; t < 100; t++) {
        st = await call(b, 'GET', `/v1/jobs/${j.json.job}`, { expect: 200 });
        if (st.json && st.json.state === 'done') break;
        await new Promise((r) => setTimeout(r, 100));
      }
      eq(st.json.state, 'done', 'job state');
      const ev = await call(b, 'GET', `/v1/jobs/${j.json.job}/events`, { expect: 200 });
      eq(parseSSE(ev.text).filter((e) => e.event === 'timestep').length, 7, 'job timestep events');
      assert(ev.text.startsWith('retry: '), 'a stream starts with its reconnect delay');
      const resumed = await call(b, 'GET', `/v1/jobs/${j.json.job}/events`, { headers: { 'Last-Event-ID': '7' }, expect: 200 });
      eq(parseSSE(resumed.text).map((e) => e.event).join(','), 'result', 'resume after the last timestep');
      const complete = await call(b, 'GET', `/v1/jobs/${j.json.job}/events`, { headers: { 'Last-Event-ID': '8' }, expect: 204 });
      eq(complete.text, '', 'no body once the client has every event');
      await call(b, 'GET', '/v1/jobs/0123456789abcdef0123456789abcdef', { expect: 404 });
      await call(b, 'GET', '/v1/jobs/0123456789abcdef0123456789abcdef/events', { expect: 404 });
      await call(b, 'POST', '/v1/jobs', { body: 'x', headers: { 'Content-Type': 'text/plain' }, expect: 415 });
      // v2
      await call(b, 'GET', '/v2', { expect: 200 });
      await call(b, 'GET', '/v2/health/live', { expect: 200 });
      await call(b, 'GET', '/v2/health/ready', { expect: 200 });
      await call(b, 'GET', `/v2/models/${name}`, { expect: 200 });
      await call(b, 'GET', `/v2/models/${name}/ready`, { expect: 200 });
      await call(b, 'GET', '/v2/models/no-such-model/ready', { expect: 404 });
      await call(b, 'GET', `/v2/models/${name}/versions/${m.version}`, { expect: 200 });
      await call(b, 'GET', `/v2/models/${name}/versions/999`, { expect: 404 });
      await call(b, 'GET', `/v2/models/${name}/versions/${m.version}/ready`, { expect: 200 });
      const H = m.input.height, W = m.input.width, C = m.input.channels;
      const pixels = Array.from({ length: H * W * C }, (_, i) => (i * 37) % 256);
      const infer = JSON.stringify({
        id: 'eco-1', parameters: { steps: 4 },
        inputs: [{ name: 'image', shape: [1, H, W, C], datatype: 'UINT8', data: pixels }],
        outputs: [{ name: 'probabilities' }, { name: 'steps' }],
      });
      const jh = { 'Content-Type': 'application/json' };
      const v2 = await call(b, 'POST', `/v2/models/${name}/infer`, { body: infer, headers: jh, expect: 200 });
      eq(v2.json && v2.json.id, 'eco-1', 'v2 id echoed');
      await call(b, 'POST', `/v2/models/${name}/versions/${m.version}/infer`, { body: infer, headers: jh, expect: 200 });
      await call(b, 'POST', `/v2/models/${name}/infer`, { body: '{"inputs": []}', headers: jh, expect: 400 });
      // the binary tensor extension: JSON header, then the pixels; binary outputs back
      const head = JSON.stringify({
        inputs: [{ name: 'image', shape: [1, H, W, C], datatype: 'UINT8', parameters: { binary_data_size: H * W * C } }],
        outputs: [{ name: 'probabilities', parameters: { binary_data: true } }],
      });
      const bin = Buffer.concat([Buffer.from(head), Buffer.from(pixels)]);
      const v2b = await call(b, 'POST', `/v2/models/${name}/infer`, {
        body: bin, headers: { 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': String(head.length) }, expect: 200 });
      assert(Number(v2b.headers.get('inference-header-content-length')) > 0, 'binary answer has its JSON length');
      await call(b, 'POST', `/v2/models/${name}/infer`, { body: infer, headers: { 'Content-Type': 'text/plain' }, expect: 415 });
      // admin: auth, reload, unload, load again
      await call(b, 'POST', `/v1/models/${name}/load`, { expect: 401 });
      await call(b, 'POST', `/v1/models/${name}/load`, { headers: { Authorization: 'Bearer wrong' }, expect: 403 });
      const auth = { Authorization: `Bearer ${TOKEN}` };
      await call(b, 'GET', '/v1/config', { expect: 401 });
      await call(b, 'GET', '/v1/config', { headers: { Authorization: 'Bearer wrong' }, expect: 403 });
      const cfg = await call(b, 'GET', '/v1/config', { headers: auth, expect: 200 });
      eq(cfg.json && cfg.json.admin_token, '<redacted>', 'admin token redacted in /v1/config');
      // the scheduler's pause gate: auth, pause, a client deadline that
      // expires in the queue (504), state, a bad chunk count, resume
      await call(b, 'POST', '/v1/admin/pause', { expect: 401 });
      const gate = await call(b, 'POST', '/v1/admin/pause', { headers: auth, expect: 200 });
      eq(gate.json && gate.json.paused, true, 'paused after POST /v1/admin/pause');
      await call(b, 'POST', `/v1/models/${name}/classify`, { body: png, headers: { ...img, 'X-Request-Timeout-Ms': '100' }, expect: 504 });
      await call(b, 'GET', '/v1/admin/scheduler', { headers: auth, expect: 200 });
      await call(b, 'POST', '/v1/admin/resume', { headers: auth, query: 'chunks=0', expect: 400 });
      const open = await call(b, 'POST', '/v1/admin/resume', { headers: auth, expect: 200 });
      eq(open.json && open.json.paused, false, 'running after POST /v1/admin/resume');
      await call(b, 'POST', `/v1/models/${name}/load`, { headers: auth, expect: 200 });
      await call(b, 'POST', '/v1/models/no-such-model/load', { headers: auth, expect: 404 });
      await call(b, 'DELETE', `/v1/models/${name}`, { headers: { Authorization: 'Bearer wrong' }, expect: 403 });
      await call(b, 'DELETE', `/v1/models/${name}`, { headers: auth, expect: 200 });
      // readiness follows the default model (this one), whatever else is loaded;
      // v2 readiness is 200 or 4xx, as the protocol says
      await call(b, 'GET', '/readyz', { expect: 503 });
      await call(b, 'GET', '/v2/health/ready', { expect: 400 });
      await call(b, 'GET', `/v2/models/${name}/ready`, { expect: 400 });
      await call(b, 'POST', `/v1/models/${name}/classify`, { body: png, headers: img, expect: 404 });
      await call(b, 'POST', `/v1/models/${name}/load`, { headers: auth, expect: 200 });
      await call(b, 'GET', '/readyz', { expect: 200 });
      assert(problems.length === 0, `${problems.length} mismatches:\n  ${problems.join('\n  ')}`);
    });

    await test('every operation of openapi.yaml was exercised with a 2xx answer', () => {
      const missing = [];
      for (const [tpl, item] of Object.entries(spec.paths))
        for (const method of Object.keys(item).filter((k) => ['get', 'post', 'put', 'delete', 'patch'].includes(k))) {
          const seen = covered.get(`${method.toUpperCase()} ${tpl}`);
          if (!seen || ![...seen].some((s) => s >= 200 && s < 300)) missing.push(`${method.toUpperCase()} ${tpl}`);
        }
      assert(!missing.length, `not exercised: ${missing.join(', ')}`);
    });
  } catch (e) {
    await test('live setup', () => { throw e; });
  } finally {
    if (snnd) snnd.stop();
  }
}

process.exit(summary());
