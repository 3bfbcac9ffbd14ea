/* app.js: the snnd page. Plain JS, no dependencies, no build step.
 *
 * Flow: GET /v1/models fills the model list; GET /v1/models/{m} gives the
 * neuron layers (raster choice). Run = POST /v1/jobs?model=M&steps=..&
 * synapse=..&scale_firing_rates=..&raster=LAYER:N&spike_stats=1&energy=all
 * with the image bytes as the body, then an EventSource on the job's
 * events URL: `timestep` events carry the class probabilities of each
 * step, the final `result` event the whole answer (probabilities per step,
 * prediction, spike_stats, raster, energy), a `failure` event a failed run
 * (EventSource's own `error` event means the connection broke).
 * Steps are drawn at a steady pace (a queue drained by requestAnimationFrame)
 * so that a fast run still shows the probabilities evolving.
 *
 * For tests: #probs carries data-step / data-steps / data-state
 * ("idle", "running", "done", "error"); #prediction carries data-index and
 * data-label once the run is done.
 */
'use strict';

const $ = (id) => document.getElementById(id);
const PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948',
                 '#b07aa1', '#ff9da7', '#9c755f', '#79706e'];
const color = (i) => i < PALETTE.length ? PALETTE[i] : `hsl(${(i * 137.5) % 360} 55% 50%)`;

const state = {
  models: [],          // from GET /v1/models
  model: null,         // the selected model summary
  detail: null,        // GET /v1/models/{m}
  image: null,         // {blob, name, width, height}
  samples: [],         // web/samples/index.json
  run: null,           // the run being shown
};

/* ------------------------------------------------------------ helpers */

function css(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

function showError(msg) {
  const b = $('banner');
  if (!msg) { b.hidden = true; b.textContent = ''; return; }
  b.textContent = msg;
  b.hidden = false;
}

function setStatus(msg) { $('status').textContent = msg; }

async function getJSON(url, opts) {
  const r = await fetch(url, opts);
  let body = null;
  try { body = await r.json(); } catch (e) { /* not JSON */ }
  if (!r.ok) throw new Error((body && body.error) || `${url}: HTTP ${r.status}`);
  return body;
}

/* "neuron=spiking-relu dt=0.001 synapse=0.005 ..." -> {neuron:..., ...} */
function fmtJoules(j) {
  if (!(j > 0)) return '0 J';
  const units = [['J', 1], ['mJ', 1e-3], ['µJ', 1e-6], ['nJ', 1e-9], ['pJ', 1e-12]];
  for (const [u, f] of units) if (j >= f) return `${(j / f).toPrecision(3)} ${u}`;
  return `${(j / 1e-12).toPrecision(3)} pJ`;
}

function fmtCount(n) {
  if (n >= 1e6) return `${(n / 1e6).toPrecision(3)}M`;
  if (n >= 1e4) return `${(n / 1e3).toPrecision(3)}k`;
  return String(Math.round(n));
}

/* A canvas sized for the device pixel ratio; returns its 2D context and
 * CSS-pixel size. */
function setupCanvas(cv) {
  const dpr = window.devicePixelRatio || 1;
  const w = cv.clientWidth || 300, h = cv.clientHeight || 150;
  if (cv.width !== Math.round(w * dpr) || cv.height !== Math.round(h * dpr)) {
    cv.width = Math.round(w * dpr);
    cv.height = Math.round(h * dpr);
  }
  const ctx = cv.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  return { ctx, w, h };
}

function argmax(a) {
  let b = 0;
  for (let i = 1; i < a.length; i++) if (a[i] > a[b]) b = i;
  return b;
}

/* ------------------------------------------------------------- models */

async function loadModels() {
  const data = await getJSON('/v1/models');
  state.models = data.models || [];
  const sel = $('model');
  sel.textContent = '';
  for (const m of state.models) {
    const o = document.createElement('option');
    o.value = m.name;
    o.textContent = m.state === 'READY' ? m.name : `${m.name} (${m.state.toLowerCase()})`;
    o.disabled = m.state !== 'READY';
    sel.appendChild(o);
  }
  const ready = state.models.filter((m) => m.state === 'READY');
  if (!ready.length) {
    setStatus('no model is loaded');
    return;
  }
  const def = ready.find((m) => m.name === data.default_model) || ready[0];
  sel.value = def.name;
  await selectModel(def.name);
}

async function selectModel(name) {
  const m = state.models.find((x) => x.name === name);
  state.model = m;
  state.detail = null;
  const inp = m.input || {};
  $('model-info').textContent =
    `${m.description || ''} Input ${inp.width}×${inp.height}×${inp.channels}, ` +
    `${(m.classes || []).length} classes, version ${m.version}.`;
  const conv = m.conversion || {};   // {"neuron": "spiking-relu", "synapse": 0.005, ...}
  const ov = new Set(m.overridable || []);
  $('steps').value = m.steps || 30;
  $('steps').max = m.max_steps || 1000;
  $('steps').disabled = !ov.has('steps');
  $('synapse').value = conv.synapse !== undefined ? Number(conv.synapse) : '';
  $('synapse').disabled = !ov.has('synapse');
  $('scale').value = conv.scale_firing_rates !== undefined ? Number(conv.scale_firing_rates) : '';
  $('scale').disabled = !ov.has('scale_firing_rates');
  state.defaults = { steps: String(m.steps), synapse: String(conv.synapse), scale: String(conv.scale_firing_rates) };

  const rl = $('raster-layer');
  rl.textContent = '';
  try {
    state.detail = await getJSON(`/v1/models/${encodeURIComponent(name)}`);
  } catch (e) {
    showError(`model details: ${e.message}`);
  }
  const layers = ((state.detail && state.detail.layers) || []).filter((l) => l.kind === 'neurons');
  for (const l of layers) {
    const o = document.createElement('option');
    o.value = l.name;
    o.textContent = `${l.name} · ${l.neurons}`;
    o.title = `${l.name}: ${l.ops || ''} ${(l.shape || []).join('×')}, ${l.neurons} neurons`;
    rl.appendChild(o);
  }
  const none = document.createElement('option');
  none.value = '';
  none.textContent = 'none';
  rl.appendChild(none);
  if (layers.length) rl.value = layers[0].name;
  markSamples();
  if (!state.image || state.image.sample) {
    // a sample of the model's own dataset or input size; any sample when
    // the model resizes its input
    const best = state.samples.find((s) => s.dataset === m.name) || state.samples.find((s) => matchesModel(s)) ||
                 (inp.resize === 'bilinear' ? state.samples[0] : null);
    if (best) await pickSample(best);
  }
  describeImage();
  resetOutputs();
  updateRunButton();
}

/* ------------------------------------------------------------- images */

function matchesModel(s) {
  const m = state.model;
  if (!m) return false;
  if (s.dataset === m.name) return true;
  const i = m.input || {};
  return s.width === i.width && s.height === i.height && s.channels === i.channels;
}

function markSamples() {
  for (const b of $('samples').children) {
    const s = state.samples[Number(b.dataset.i)];
    b.classList.toggle('match', matchesModel(s));
  }
}

/* Models whose config refuses other input sizes (resize "reject") get the
 * image resized here, in the browser, to exactly their input size. */
function needsResize() {
  const i = (state.model && state.model.input) || {};
  return state.image && i.resize === 'reject' && (state.image.width !== i.width || state.image.height !== i.height);
}

function describeImage() {
  if (!state.image) { $('image-info').textContent = 'no image yet'; return; }
  const im = state.image, i = (state.model && state.model.input) || {};
  let t = `${im.name}: ${im.width}×${im.height}, ${im.blob.size} bytes`;
  if (needsResize()) t += ` — resized to ${i.width}×${i.height} here (the model refuses other sizes)`;
  else if (i.width && (im.width !== i.width || im.height !== i.height)) t += ` — snnd resizes it to ${i.width}×${i.height}`;
  $('image-info').textContent = t;
}

async function bodyBlob() {
  if (!needsResize()) return state.image.blob;
  const i = state.model.input;
  const bmp = await createImageBitmap(state.image.blob);
  const c = document.createElement('canvas');
  c.width = i.width;
  c.height = i.height;
  const ctx = c.getContext('2d');
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(bmp, 0, 0, i.width, i.height);
  return new Promise((res) => c.toBlob(res, 'image/png'));
}

async function loadSamples() {
  try {
    const r = await fetch('/static/samples/index.json');
    state.samples = r.ok ? await r.json() : [];
  } catch (e) {
    state.samples = [];
  }
  const box = $('samples');
  box.textContent = '';
  state.samples.forEach((s, i) => {
    const b = document.createElement('button');
    b.type = 'button';
    b.dataset.i = i;
    b.title = `${s.dataset}: ${s.label || 'class ' + s.class}`;
    const img = document.createElement('img');
    img.src = `/static/samples/${s.file}`;
    img.alt = b.title;
    b.appendChild(img);
    b.addEventListener('click', () => pickSample(s));
    box.appendChild(b);
  });
}

async function pickSample(s) {
  const r = await fetch(`/static/samples/${s.file}`);
  const blob = await r.blob();
  await setImage(blob, `sample ${s.dataset} (${s.label || 'class ' + s.class})`, s);
}

async function setImage(blob, name, sample) {
  let bmp;
  try {
    bmp = await createImageBitmap(blob);
  } catch (e) {
    showError(`${name}: the browser cannot decode this image`);
    return;
  }
  // The daemon takes PNG and JPEG; anything else the browser can decode is
  // re-encoded as PNG here (same pixels).
  if (blob.type !== 'image/png' && blob.type !== 'image/jpeg') {
    const c = document.createElement('canvas');
    c.width = bmp.width;
    c.height = bmp.height;
    c.getContext('2d').drawImage(bmp, 0, 0);
    blob = await new Promise((res) => c.toBlob(res, 'image/png'));
  }
  state.image = { blob, name, width: bmp.width, height: bmp.height, sample: sample || null };
  const cv = $('preview');
  const ctx = cv.getContext('2d');
  ctx.imageSmoothingEnabled = false;
  ctx.clearRect(0, 0, cv.width, cv.height);
  const k = Math.min(cv.width / bmp.width, cv.height / bmp.height);
  const w = bmp.width * k, h = bmp.height * k;
  ctx.drawImage(bmp, (cv.width - w) / 2, (cv.height - h) / 2, w, h);
  describeImage();
  for (const b of $('samples').children)
    b.classList.toggle('selected', sample === state.samples[Number(b.dataset.i)]);
  showError('');
  updateRunButton();
}

function updateRunButton() {
  const busy = state.run && !state.run.finished;
  $('run').disabled = !state.model || !state.image || busy;
  if (!state.run && state.model && state.image) setStatus('ready to run');
}

/* ---------------------------------------------------------------- run */

function buildQuery() {
  const q = new URLSearchParams();
  q.set('model', state.model.name);
  const ov = new Set(state.model.overridable || []);
  const steps = $('steps').value.trim();
  if (steps && ov.has('steps')) q.set('steps', steps);
  const syn = $('synapse').value.trim();
  if (syn !== '' && ov.has('synapse') && syn !== state.defaults.synapse) q.set('synapse', syn);
  const sc = $('scale').value.trim();
  if (sc !== '' && ov.has('scale_firing_rates') && sc !== state.defaults.scale) q.set('scale_firing_rates', sc);
  const layer = $('raster-layer').value;
  if (layer) q.set('raster', `${layer}:${Math.max(1, Number($('raster-neurons').value) || 64)}`);
  q.set('spike_stats', '1');
  q.set('energy', 'all');
  q.set('top_k', String(Math.min(5, (state.model.classes || []).length || 5)));
  return q;
}

function resetOutputs() {
  const classes = (state.model && state.model.classes) || [];
  state.run = null;
  const cv = $('probs');
  cv.dataset.step = '0';
  cv.dataset.steps = '0';
  cv.dataset.state = 'idle';
  $('prediction').textContent = '–';
  delete $('prediction').dataset.index;
  delete $('prediction').dataset.label;
  $('prediction-prob').textContent = '';
  $('step-label').textContent = 'step 0 / 0';
  drawProbs(null);
  drawLegend(classes, null);
  drawRaster(null);
  $('raster-title').textContent = '';
  $('raster-info').textContent = '';
  $('layers').innerHTML = '<p class="muted small">run the network to see its activity</p>';
  $('energy').innerHTML = '<p class="muted small">estimated per device from the run\'s synaptic events and neuron updates</p>';
  $('timing').textContent = '';
}

async function run() {
  if (!state.model || !state.image) return;
  if (state.run && state.run.es) state.run.es.close();
  resetOutputs();
  showError('');
  const q = buildQuery();
  const steps = Number(q.get('steps') || state.model.steps || 30);
  const r = {
    steps, rows: [], shown: 0, result: null, finished: false, es: null,
    classes: state.model.classes || [], t0: performance.now(), last: 0, acc: 0,
  };
  state.run = r;
  $('probs').dataset.state = 'running';
  $('probs').dataset.steps = String(steps);
  updateRunButton();
  setStatus('submitting…');
  let job;
  try {
    const body = await bodyBlob();
    job = await getJSON(`/v1/jobs?${q}`, {
      method: 'POST',
      headers: { 'Content-Type': body.type || 'image/png' },
      body,
    });
  } catch (e) {
    fail(r, e.message);
    return;
  }
  setStatus(`job ${job.job.slice(0, 8)}…: streaming`);
  const es = new EventSource(job.events);
  r.es = es;
  es.addEventListener('timestep', (ev) => {
    const d = JSON.parse(ev.data);
    if (d.probabilities) r.rows[d.step - 1] = d.probabilities;
    else if (d.images && d.images[0]) r.rows[d.step - 1] = d.images[0].probabilities;
  });
  es.addEventListener('result', (ev) => {
    r.result = JSON.parse(ev.data);
    if (Array.isArray(r.result.probabilities)) r.rows = r.result.probabilities.slice();
    r.steps = r.rows.length;
    $('probs').dataset.steps = String(r.steps);
    es.close();
  });
  es.addEventListener('failure', (ev) => {   // the run failed: {"error", "status"}
    let msg = ev.data;
    try { const d = JSON.parse(ev.data); msg = `${d.error} (HTTP ${d.status})`; } catch (e) { /* raw */ }
    es.close();
    fail(r, msg);
  });
  es.addEventListener('error', () => {        // EventSource's own: the connection
    if (!r.result && es.readyState === EventSource.CLOSED) fail(r, 'the event stream closed before the result');
  });
  requestAnimationFrame((t) => animate(r, t));
}

function fail(r, msg) {
  if (r.finished) return;
  r.finished = true;
  if (r.es) r.es.close();
  $('probs').dataset.state = 'error';
  showError(msg);
  setStatus('failed');
  updateRunButton();
}

/* Reveal the rows received so far at a steady pace: ~1.5 s for a short run,
 * at most ~2.5 s for a long one. */
function animate(r, t) {
  if (state.run !== r || r.finished) return;
  const perSec = Math.max(20, r.steps / 2.5);
  if (!r.last) r.last = t;
  r.acc += ((t - r.last) / 1000) * perSec;
  r.last = t;
  let avail = 0;
  while (avail < r.rows.length && r.rows[avail]) avail++;
  const before = r.shown;
  while (r.acc >= 1 && r.shown < avail) { r.shown++; r.acc -= 1; }
  if (r.shown >= avail) r.acc = Math.min(r.acc, 1);
  if (r.shown !== before) render(r);
  if (r.result && r.shown >= r.rows.length) {
    finish(r);
    return;
  }
  requestAnimationFrame((t2) => animate(r, t2));
}

function render(r) {
  const row = r.rows[r.shown - 1];
  $('probs').dataset.step = String(r.shown);
  $('step-label').textContent = `step ${r.shown} / ${r.steps}`;
  drawProbs(r);
  drawLegend(r.classes, row);
  if (row) {
    const b = argmax(row);
    $('prediction').textContent = r.classes[b] !== undefined ? r.classes[b] : String(b);
    $('prediction-prob').textContent = `p = ${row[b].toFixed(3)} at step ${r.shown}`;
  }
  if (r.result) {
    drawRaster(r);
    drawLayers(r.result, r.shown);
  }
}

function finish(r) {
  r.finished = true;
  const res = r.result;
  render(r);
  const p = res.prediction;
  $('prediction').textContent = p.label;
  $('prediction').dataset.index = String(p.index);
  $('prediction').dataset.label = p.label;
  $('prediction-prob').textContent =
    `p = ${Number(p.probability).toFixed(3)} after ${res.stop_step || res.steps} steps`;
  drawLayers(res);
  drawEnergy(res);
  $('timing').textContent =
    `queue ${Number(res.queue_ms).toFixed(1)} ms · compute ${Number(res.compute_ms).toFixed(1)} ms · ` +
    `request ${res.id}`;
  $('probs').dataset.state = 'done';
  setStatus(`done in ${((performance.now() - r.t0) / 1000).toFixed(2)} s (drawing included)`);
  updateRunButton();
}

/* ------------------------------------------------------------ drawing */

function drawProbs(r) {
  const { ctx, w, h } = setupCanvas($('probs'));
  const L = 38, R = 8, T = 8, B = 24;
  const pw = w - L - R, ph = h - T - B;
  const steps = r ? Math.max(r.steps, 1) : 1;
  ctx.font = '11px system-ui, "DejaVu Sans", sans-serif';
  ctx.strokeStyle = css('--grid');
  ctx.fillStyle = css('--muted');
  ctx.lineWidth = 1;
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  for (let i = 0; i <= 4; i++) {
    const y = T + ph - (ph * i) / 4;
    ctx.beginPath(); ctx.moveTo(L, y); ctx.lineTo(L + pw, y); ctx.stroke();
    ctx.fillText((i / 4).toFixed(2), L - 5, y);
  }
  ctx.textAlign = 'center';
  ctx.textBaseline = 'top';
  const xs = (s) => L + (steps <= 1 ? pw : (pw * (s - 1)) / (steps - 1));
  const tick = Math.max(1, Math.ceil(steps / 8));
  for (let s = 1; s <= steps; s += tick) ctx.fillText(String(s), xs(s), T + ph + 6);
  if (steps > 1) ctx.fillText(String(steps), xs(steps), T + ph + 6);
  if (!r || !r.shown) {
    ctx.fillText(r ? 'waiting for the first timestep…' : 'no run yet', L + pw / 2, T + ph / 2);
    return;
  }
  const nc = r.rows[0].length;
  const last = r.rows[r.shown - 1];
  const order = [...Array(nc).keys()].sort((a, b) => last[a] - last[b]);   // top class drawn last
  for (const c of order) {
    ctx.strokeStyle = color(c);
    ctx.lineWidth = c === argmax(last) ? 2.5 : 1.4;
    ctx.beginPath();
    for (let s = 1; s <= r.shown; s++) {
      const y = T + ph - ph * r.rows[s - 1][c];
      if (s === 1) ctx.moveTo(xs(s), y); else ctx.lineTo(xs(s), y);
    }
    if (r.shown === 1) ctx.lineTo(xs(1) + 2, T + ph - ph * r.rows[0][c]);
    ctx.stroke();
  }
  ctx.strokeStyle = css('--muted');
  ctx.setLineDash([3, 3]);
  ctx.beginPath(); ctx.moveTo(xs(r.shown), T); ctx.lineTo(xs(r.shown), T + ph); ctx.stroke();
  ctx.setLineDash([]);
}

function drawLegend(classes, row) {
  const ol = $('legend');
  ol.textContent = '';
  const best = row ? argmax(row) : -1;
  classes.forEach((name, c) => {
    const li = document.createElement('li');
    if (c === best) li.className = 'top';
    const p = row ? row[c] : 0;
    li.innerHTML = `<span class="swatch"></span><span class="bar"><i></i><b></b></span><span class="v"></span>`;
    li.querySelector('.swatch').style.background = color(c);
    const bar = li.querySelector('i');
    bar.style.background = color(c);
    bar.style.width = `${(p * 100).toFixed(1)}%`;
    li.querySelector('b').textContent = name;
    li.querySelector('.v').textContent = row ? p.toFixed(3) : '';
    ol.appendChild(li);
  });
}

function drawRaster(r) {
  const { ctx, w, h } = setupCanvas($('raster'));
  const ra = r && r.result && r.result.raster;
  ctx.font = '11px system-ui, "DejaVu Sans", sans-serif';
  ctx.fillStyle = css('--muted');
  ctx.textAlign = 'center';
  ctx.textBaseline = 'middle';
  if (!ra || !ra.counts || !ra.counts.length) {
    ctx.fillText(r && r.result ? 'no raster requested (choose a layer)' : 'the raster appears with the result', w / 2, h / 2);
    return;
  }
  const L = 38, R = 8, T = 6, B = 22;
  const pw = w - L - R, ph = h - T - B;
  const steps = ra.counts.length, nn = ra.neurons.length;
  const cw = pw / steps, rh = ph / Math.max(nn, 1);
  ctx.strokeStyle = css('--grid');
  ctx.strokeRect(L, T, pw, ph);
  ctx.textBaseline = 'top';
  const tick = Math.max(1, Math.ceil(steps / 8));
  for (let s = 1; s <= steps; s += tick) ctx.fillText(String(s), L + cw * (s - 0.5), T + ph + 6);
  ctx.save();
  ctx.translate(12, T + ph / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.fillText(`${nn} neurons`, 0, 0);
  ctx.restore();
  ctx.fillStyle = css('--fg');
  const upto = Math.min(r.shown, steps);
  let spikes = 0;
  for (let s = 0; s < upto; s++) {
    const row = ra.counts[s];
    for (let k = 0; k < nn; k++) {
      const n = row[k];
      if (!n) continue;
      spikes += n;
      // k spikes in one step: k ticks spread across the step's column (capped)
      const m = Math.min(n, 4);
      const tw = Math.max(1.5, Math.min(3, cw / (2 * m)));
      for (let q = 0; q < m; q++) {
        const x = L + cw * s + (cw * (q + 0.5)) / m - tw / 2;
        ctx.fillRect(x, T + rh * k, tw, Math.max(2.5, rh * 0.9));
      }
    }
  }
  $('raster-title').textContent = `· ${ra.layer}`;
  $('raster-info').textContent =
    `${spikes} spikes from ${nn} sampled neurons (indices ${ra.neurons.slice(0, 6).join(', ')}` +
    `${nn > 6 ? ', …' : ''}) over ${upto} steps`;
}

function barRow(name, frac, num, cls) {
  const row = document.createElement('div');
  row.className = 'row';
  row.innerHTML = '<span class="name"></span><span class="track"><span class="fill"></span></span><span class="num"></span>';
  row.querySelector('.name').textContent = name;
  row.querySelector('.name').title = name;
  const f = row.querySelector('.fill');
  if (cls) f.classList.add(cls);
  f.style.width = `${Math.max(0, Math.min(1, frac)) * 100}%`;
  row.querySelector('.num').textContent = num;
  return row;
}

/* Spike counts per neuron layer up to step `upto` (all steps when omitted):
 * the bars grow with the probability chart, each with a sparkline of the
 * layer's spikes per step. */
function drawLayers(res, upto) {
  const box = $('layers');
  box.textContent = '';
  const st = res.spike_stats || [];
  if (!st.length) {
    box.innerHTML = '<p class="muted small">no spike statistics in the result</p>';
    return;
  }
  const n = upto === undefined ? res.steps : upto;
  const upTo = (l) => (l.spikes_per_step && l.spikes_per_step.length
    ? l.spikes_per_step.slice(0, n).reduce((a, x) => a + x, 0) : l.spikes);
  const max = Math.max(...st.map((l) => l.spikes), 1);
  for (const l of st) {
    const k = upTo(l);
    const row = barRow(l.name, k / max, n >= res.steps
      ? `${fmtCount(l.spikes)} · ${Number(l.rate_hz).toFixed(1)} Hz` : fmtCount(k));
    row.title = `${l.neurons} neurons, ${(100 * l.fired_fraction).toFixed(1)}% fired, ` +
                `${fmtCount(l.syn_events)} synaptic events`;
    const pps = l.spikes_per_step || [];
    if (pps.length > 1) {
      const cv = document.createElement('canvas');
      cv.className = 'spark';
      row.querySelector('.track').after(cv);
      row.classList.add('with-spark');
      box.appendChild(row);
      const { ctx, w, h } = setupCanvas(cv);
      const pm = Math.max(...pps, 1);
      ctx.fillStyle = css('--accent');
      const bw = w / pps.length;
      for (let q = 0; q < Math.min(n, pps.length); q++) {
        const bh = (h - 1) * (pps[q] / pm);
        ctx.fillRect(q * bw, h - bh, Math.max(1, bw - 0.5), bh);
      }
    } else {
      box.appendChild(row);
    }
  }
  const total = st.reduce((a, l) => a + upTo(l), 0);
  const p = document.createElement('p');
  p.className = 'muted small';
  p.textContent = `${fmtCount(total)} spikes in ${Math.min(n, res.steps)} steps; sparkline: spikes per step (hover a bar for details)`;
  box.appendChild(p);
}

function drawEnergy(res) {
  const box = $('energy');
  box.textContent = '';
  const en = res.energy || [];
  if (!en.length) {
    box.innerHTML = '<p class="muted small">no energy estimate in the result</p>';
    return;
  }
  for (const d of en) {
    const head = document.createElement('div');
    head.className = 'device';
    const ratio = d.snn_to_ann;
    head.innerHTML = '<span></span><span class="ratio"></span>';
    head.firstChild.textContent = `${d.device}${d.spiking ? ' (neuromorphic)' : ''}`;
    const rs = head.lastChild;
    rs.textContent = ratio > 0 ? `SNN = ${ratio < 0.1 ? ratio.toPrecision(2) : ratio.toFixed(2)}× ANN` : '';
    rs.classList.add(ratio > 0 && ratio < 1 ? 'good' : 'bad');
    box.appendChild(head);
    const max = Math.max(d.snn_joules, d.ann_joules, 1e-30);
    box.appendChild(barRow('spiking', d.snn_joules / max, fmtJoules(d.snn_joules), 'snn'));
    box.appendChild(barRow('ANN', d.ann_joules / max, fmtJoules(d.ann_joules), 'ann'));
  }
}

/* --------------------------------------------------------------- init */

function wireInputs() {
  $('model').addEventListener('change', (e) => selectModel(e.target.value).catch((x) => showError(x.message)));
  $('file').addEventListener('change', (e) => {
    const f = e.target.files && e.target.files[0];
    if (f) setImage(f, f.name);
  });
  const drop = $('drop');
  const over = (on) => (e) => { e.preventDefault(); drop.classList.toggle('over', on); };
  drop.addEventListener('dragenter', over(true));
  drop.addEventListener('dragover', over(true));
  drop.addEventListener('dragleave', over(false));
  drop.addEventListener('drop', (e) => {
    over(false)(e);
    const f = e.dataTransfer && e.dataTransfer.files && e.dataTransfer.files[0];
    if (f) setImage(f, f.name);
  });
  window.addEventListener('dragover', (e) => e.preventDefault());
  window.addEventListener('drop', (e) => e.preventDefault());
  drop.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') $('file').click(); });
  $('run').addEventListener('click', () => run());
  window.addEventListener('resize', () => {
    const r = state.run;
    drawProbs(r && r.shown ? r : null);
    drawRaster(r && r.result ? r : null);
  });
}

async function init() {
  wireInputs();
  resetOutputs();
  try {
    const info = await getJSON('/v2');
    $('server').textContent = `${info.name} ${info.version}`;
  } catch (e) {
    $('server').textContent = 'snnd';
  }
  await loadSamples();
  try {
    await loadModels();
  } catch (e) {
    showError(`cannot list models: ${e.message}`);
  }
}

init();
