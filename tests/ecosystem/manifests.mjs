// manifests.mjs: the deployment kit is well formed and agrees with the code.
//
// No Docker engine or Kubernetes API server runs here, so the manifests are
// parsed (npm `yaml`) and checked structurally: the compose stack's
// services, build context, mounted files and the Prometheus target; the
// Kubernetes objects (selectors match pod labels, probes hit /healthz and
// /readyz on a declared port, resources set, non-root, the HPA targets the
// Deployment and scales on a metric snnd exports); the Grafana provisioning
// and dashboard; the systemd unit. Every metric name used in PromQL
// (dashboard, alerts, adapter, HPA) must be declared in server/metrics.c and
// every SNND_* variable in server/config.c's option table.
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import {
  ROOT, assert, daemonEnvVars, daemonMetrics, daemonSeriesNames, eq, promqlMetricNames, read,
  summary, test, yaml1, yamlDocs,
} from './lib.mjs';

const series = daemonSeriesNames();
const envs = daemonEnvVars();
const exists = (rel) => fs.existsSync(path.join(ROOT, rel));

function checkNames(where, expr) {
  for (const n of promqlMetricNames(expr))
    assert(series.has(n), `${where}: metric ${n} is not exported by snnd (server/metrics.c)`);
}
function checkEnv(where, name) {
  if (name.startsWith('SNND_')) assert(envs.has(name), `${where}: ${name} is not an snnd option (server/config.c)`);
}

await test('server/metrics.c declares the metrics the kit relies on', () => {
  const m = daemonMetrics();
  for (const [n, t] of [['snnd_requests_total', 'counter'], ['snnd_request_duration_seconds', 'histogram'],
                        ['snnd_queue_depth', 'gauge'], ['snnd_spikes_total', 'counter'],
                        ['snnd_energy_joules_total', 'counter']])
    eq(m.get(n), t, `type of ${n}`);
});

await test('docker-compose.yml: snnd + prometheus + grafana, files and ports consistent', () => {
  const c = yaml1('deploy/docker-compose.yml');
  const s = c.services || {};
  for (const n of ['snnd', 'prometheus', 'grafana']) assert(s[n], `service ${n} missing`);
  const ctx = path.join('deploy', s.snnd.build.context);
  assert(exists(path.join(ctx, s.snnd.build.dockerfile || 'Dockerfile')), `build context ${ctx} has no Dockerfile`);
  assert((s.snnd.ports || []).some((p) => String(p).endsWith(':8080')), 'snnd publishes 8080');
  for (const [k, v] of Object.entries(s.snnd.environment || {})) {
    checkEnv('compose snnd.environment', k);
    assert(typeof v === 'string', `environment ${k} must be a string (compose)`);
  }
  // the admin token comes from the shell that runs compose, never the file
  assert(/^\$\{SNND_ADMIN_TOKEN(:-)?\}$/.test((s.snnd.environment || {}).SNND_ADMIN_TOKEN || ''),
         'compose passes SNND_ADMIN_TOKEN through from the environment');
  assert(/^\d+s$/.test(s.snnd.stop_grace_period || '') && parseInt(s.snnd.stop_grace_period, 10) > 10,
         'stop_grace_period longer than the 10 s drain');
  for (const [name, svc] of Object.entries(s)) {
    assert(svc.image || svc.build, `${name}: image or build`);
    if (svc.image) assert(!/:latest$/.test(svc.image) && svc.image.includes(':'), `${name}: pinned image tag (${svc.image})`);
    for (const v of svc.volumes || []) {
      const src = String(v).split(':')[0];
      if (src.startsWith('.')) assert(exists(path.join('deploy', src)), `${name}: mounted ${src} does not exist`);
      else assert((c.volumes || {})[src] !== undefined, `${name}: named volume ${src} not declared`);
    }
    for (const d of Object.keys(Array.isArray(svc.depends_on) ? Object.fromEntries(svc.depends_on.map((x) => [x, 1])) : svc.depends_on || {}))
      assert(s[d], `${name} depends on unknown service ${d}`);
  }
  const prom = yaml1('deploy/prometheus.yml');
  const targets = prom.scrape_configs.flatMap((j) => j.static_configs.flatMap((x) => x.targets));
  assert(targets.includes('snnd:8080'), `prometheus scrapes snnd:8080 (targets ${targets})`);
  const mounted = (s.prometheus.volumes || []).map((v) => String(v).split(':')[1]);
  for (const rf of prom.rule_files) assert(mounted.includes(`/etc/prometheus/${rf}`), `rule file ${rf} mounted next to prometheus.yml`);
});

await test('grafana: datasource and dashboard provisioning, dashboard queries use real metrics', () => {
  const dsf = yaml1('deploy/grafana/provisioning/datasources/prometheus.yml');
  const ds = dsf.datasources[0];
  eq(ds.type, 'prometheus', 'datasource type');
  assert(/^http:\/\/prometheus:9090/.test(ds.url), `datasource url ${ds.url}`);
  const prov = yaml1('deploy/grafana/provisioning/dashboards/snnd.yml');
  eq(prov.providers[0].options.path, '/var/lib/grafana/dashboards', 'provider path (compose mount)');
  const dash = JSON.parse(read('deploy/grafana/dashboards/snnd.json'));
  const exprs = dash.panels.flatMap((p) => (p.targets || []).map((t) => [p.title, t]));
  assert(exprs.length >= 8, 'dashboard has its panels');
  for (const [title, t] of exprs) {
    eq(t.datasource.uid, ds.uid, `${title}: datasource uid`);
    checkNames(`dashboard "${title}"`, t.expr);
  }
  const all = exprs.map(([, t]) => t.expr).join('\n');
  for (const need of ['rate(snnd_requests_total', 'histogram_quantile(0.99', 'snnd_request_duration_seconds_bucket',
                      'snnd_queue_depth', 'rate(snnd_spikes_total', 'rate(snnd_energy_joules_total'])
    assert(all.includes(need), `dashboard shows ${need}`);
  const ids = dash.panels.map((p) => p.id);
  eq(new Set(ids).size, ids.length, 'panel ids unique');
});

await test('alerts.yml: queue saturation, error ratio and latency alerts on real metrics', () => {
  const a = yaml1('deploy/alerts.yml');
  const rules = a.groups.flatMap((g) => g.rules);
  const alerts = rules.filter((r) => r.alert).map((r) => r.alert);
  for (const n of ['SnndQueueSaturated', 'SnndHighErrorRatio', 'SnndHighLatency']) assert(alerts.includes(n), `alert ${n}`);
  for (const r of rules) checkNames(`rule ${r.alert || r.record}`, r.expr);
});

// Every Kubernetes object of the kit, by file. Core and Prometheus Operator
// kinds are validated against their OpenAPI schemas (npm kubernetes-models,
// @kubernetes-models/prometheus-operator: types, enums, required fields);
// KServe publishes no such package, so its objects are checked field by field
// in the KServe test below.
const K8S_FILES = ['deploy/k8s', 'deploy/k8s/autoscaling', 'deploy/kserve'].flatMap((dir) =>
  fs.readdirSync(path.join(ROOT, dir)).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml' &&
                                                   !f.endsWith('-values.yaml')).map((f) => `${dir}/${f}`));
const SCHEMAS = {
  'v1/ConfigMap': ['kubernetes-models/v1/ConfigMap', 'ConfigMap'],
  'v1/Service': ['kubernetes-models/v1/Service', 'Service'],
  'apps/v1/Deployment': ['kubernetes-models/apps/v1/Deployment', 'Deployment'],
  'autoscaling/v2/HorizontalPodAutoscaler': ['kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler', 'HorizontalPodAutoscaler'],
  'monitoring.coreos.com/v1/PodMonitor': ['@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor', 'PodMonitor'],
};
const STRUCTURAL = new Set(['serving.kserve.io/v1alpha1/ServingRuntime', 'serving.kserve.io/v1beta1/InferenceService']);

await test('k8s/KServe: every manifest is listed by its kustomization and validates against its schema', async () => {
  for (const dir of ['deploy/k8s', 'deploy/k8s/autoscaling', 'deploy/kserve']) {
    const listed = yaml1(`${dir}/kustomization.yaml`).resources;
    for (const r of listed) assert(exists(`${dir}/${r}`), `${dir}/kustomization.yaml lists missing ${r}`);
    for (const f of K8S_FILES.filter((x) => path.dirname(x) === dir))
      assert(listed.includes(path.basename(f)), `${f} is not in ${dir}/kustomization.yaml`);
  }
  let validated = 0;
  for (const f of K8S_FILES) {
    for (const d of yamlDocs(f)) {
      const key = `${d.apiVersion}/${d.kind}`;
      assert(d.metadata && d.metadata.name, `${f}: ${key} without metadata.name`);
      if (STRUCTURAL.has(key)) continue;
      assert(SCHEMAS[key], `${f}: no schema known for ${key}`);
      const mod = await import(SCHEMAS[key][0]);
      try {
        new mod[SCHEMAS[key][1]](d).validate();
      } catch (e) {
        throw new Error(`${f}: ${key} ${d.metadata.name}: ${e.message}`);
      }
      validated++;
    }
  }
  assert(validated >= 5, `only ${validated} objects validated`);
});

await test('k8s: Deployment probes/resources/non-root/preStop, Service and HPA agree', () => {
  const docs = ['deployment.yaml', 'service.yaml', 'hpa.yaml', 'configmap.yaml']
    .flatMap((f) => yamlDocs(`deploy/k8s/${f}`));
  for (const d of docs) assert(d.apiVersion && d.kind && d.metadata && d.metadata.name, `object without apiVersion/kind/name: ${JSON.stringify(d).slice(0, 80)}`);
  const kust = yaml1('deploy/k8s/kustomization.yaml');
  for (const r of kust.resources) assert(exists(`deploy/k8s/${r}`), `kustomization lists missing ${r}`);
  const dep = docs.find((d) => d.kind === 'Deployment');
  eq(dep.apiVersion, 'apps/v1', 'Deployment apiVersion');
  const podLabels = dep.spec.template.metadata.labels;
  for (const [k, v] of Object.entries(dep.spec.selector.matchLabels)) eq(podLabels[k], v, `selector ${k}`);
  const c = dep.spec.template.spec.containers[0];
  const ports = Object.fromEntries(c.ports.map((p) => [p.name, p.containerPort]));
  eq(ports.http, 8080, 'container port http');
  for (const [probe, p] of [['livenessProbe', '/healthz'], ['readinessProbe', '/readyz']]) {
    assert(c[probe] && c[probe].httpGet, `${probe} httpGet`);
    eq(c[probe].httpGet.path, p, `${probe} path`);
    assert(ports[c[probe].httpGet.port] || c[probe].httpGet.port === 8080, `${probe} port declared`);
  }
  for (const k of ['requests', 'limits']) assert(c.resources[k].cpu && c.resources[k].memory, `resources.${k}`);
  assert(dep.spec.template.spec.securityContext.runAsNonRoot === true, 'runAsNonRoot');
  const stop = (((c.lifecycle || {}).preStop || {}).exec || {}).command || [];
  eq(stop[0], 'sleep', 'preStop delay (endpoints leave the Service before the drain refuses work)');
  const preStop = Number(stop[1]);
  assert(preStop >= 1 && preStop <= 30, `preStop sleep ${stop[1]}`);
  for (const e of c.env || []) checkEnv('Deployment env', e.name);
  // listening on 0.0.0.0: the admin token comes from a Secret, never a literal
  const tok = (c.env || []).find((e) => e.name === 'SNND_ADMIN_TOKEN');
  assert(tok && tok.valueFrom && tok.valueFrom.secretKeyRef && tok.value === undefined,
         'SNND_ADMIN_TOKEN comes from a Secret (secretKeyRef)');
  const cmName = dep.spec.template.spec.volumes.find((v) => v.configMap).configMap.name;
  const cm = docs.find((d) => d.kind === 'ConfigMap' && d.metadata.name === cmName);
  assert(cm, `ConfigMap ${cmName} defined`);
  const cfg = JSON.parse(cm.data['snnd.json']);
  const optKeys = new Set([...envs].map((e) => e.slice(5).toLowerCase()));
  for (const k of Object.keys(cfg)) assert(optKeys.has(k), `snnd.json key ${k} is not an option`);
  const drain = (cfg.drain_timeout_ms ?? 10000) / 1000;
  assert(dep.spec.template.spec.terminationGracePeriodSeconds > preStop + drain,
         `grace period ${dep.spec.template.spec.terminationGracePeriodSeconds} s above preStop ${preStop} s + drain ${drain} s`);
  const svc = docs.find((d) => d.kind === 'Service');
  for (const [k, v] of Object.entries(svc.spec.selector)) eq(podLabels[k], v, `Service selector ${k}`);
  for (const p of svc.spec.ports) assert(ports[p.targetPort] || Object.values(ports).includes(p.targetPort), `Service targetPort ${p.targetPort}`);
  const hpa = docs.find((d) => d.kind === 'HorizontalPodAutoscaler');
  eq(hpa.apiVersion, 'autoscaling/v2', 'HPA apiVersion');
  eq(hpa.spec.scaleTargetRef.kind, 'Deployment', 'HPA target kind');
  eq(hpa.spec.scaleTargetRef.name, dep.metadata.name, 'HPA target name');
  assert(hpa.spec.minReplicas >= 1 && hpa.spec.maxReplicas > hpa.spec.minReplicas, 'HPA replica bounds');
  const pm = hpa.spec.metrics.find((m) => m.type === 'Pods');
  assert(pm, 'HPA scales on a Pods (custom) metric');
  assert(series.has(pm.pods.metric.name), `HPA metric ${pm.pods.metric.name} exported by snnd`);
  // The autoscaling kit: the adapter rule (Helm values the chart writes into
  // the adapter's config) serves the HPA's metric from series that carry the
  // pod and namespace labels; the PodMonitor or scrape job provide them.
  const values = yaml1('deploy/k8s/autoscaling/prometheus-adapter-values.yaml');
  eq(values.rules.default, false, 'adapter default rules off (only ours)');
  const rule = values.rules.custom.find((r) => r.name.as === pm.pods.metric.name);
  assert(rule, `prometheus-adapter exposes ${pm.pods.metric.name}`);
  checkNames('adapter seriesQuery', rule.seriesQuery);
  checkNames('adapter metricsQuery', rule.metricsQuery.replace(/<<[^>]*>>/g, ''));
  eq(rule.resources.overrides.pod.resource, 'pod', 'adapter maps the pod label');
  eq(rule.resources.overrides.namespace.resource, 'namespace', 'adapter maps the namespace label');
  const podmon = yaml1('deploy/k8s/autoscaling/podmonitor.yaml');
  for (const [k, v] of Object.entries(podmon.spec.selector.matchLabels)) eq(podLabels[k], v, `PodMonitor selector ${k}`);
  for (const e of podmon.spec.podMetricsEndpoints) {
    assert(ports[e.port], `PodMonitor port ${e.port} is a named container port`);
    eq(e.path, '/metrics', 'PodMonitor path');
  }
  const scrape = yaml1('deploy/k8s/autoscaling/prometheus-scrape.yml').scrape_configs[0];
  const targets = scrape.relabel_configs.map((r) => r.target_label);
  for (const l of ['namespace', 'pod', '__metrics_path__', '__address__']) assert(targets.includes(l), `scrape job sets ${l}`);
  const keep = scrape.relabel_configs.find((r) => r.action === 'keep' && r.source_labels[0].includes('label_app_kubernetes_io_name'));
  assert(keep && keep.regex === podLabels['app.kubernetes.io/name'], 'scrape job keeps the snnd pods');
  const ann = dep.spec.template.metadata.annotations;
  eq(ann['prometheus.io/scrape'], 'true', 'pod annotation prometheus.io/scrape');
  eq(Number(ann['prometheus.io/port']), ports.http, 'pod annotation prometheus.io/port');
});

await test('KServe: ServingRuntime speaks v2 on 8080, the InferenceService selects it, snnd takes its args', () => {
  const rt = yaml1('deploy/kserve/servingruntime.yaml');
  const isvc = yaml1('deploy/kserve/inferenceservice.yaml');
  eq(rt.apiVersion, 'serving.kserve.io/v1alpha1', 'ServingRuntime apiVersion');
  eq(isvc.apiVersion, 'serving.kserve.io/v1beta1', 'InferenceService apiVersion');
  assert(rt.spec.protocolVersions.includes('v2'), 'runtime speaks the v2 protocol');
  const c = rt.spec.containers[0];
  eq(c.name, 'kserve-container', 'KServe expects the container named kserve-container');
  eq(c.ports[0].containerPort, 8080, 'predictor HTTP port');
  assert(['http1', undefined].includes(c.ports[0].name), 'HTTP/1.1 port (h2c would mean HTTP/2)');
  // the args are snnd options, with the model repository KServe mounts
  const args = c.args;
  for (let i = 0; i < args.length; i += 2) {
    assert(args[i].startsWith('--'), `arg ${args[i]} is a flag`);
    checkEnv('ServingRuntime args', `SNND_${args[i].slice(2).toUpperCase().replace(/-/g, '_')}`);
  }
  const arg = (f) => args[args.indexOf(f) + 1];
  eq(arg('--models'), '/mnt/models', 'model repository where KServe stores the model');
  eq(arg('--default-model'), '{{.Name}}', 'the InferenceService name is the model name');
  eq(arg('--host'), '0.0.0.0', 'listens beyond loopback');
  for (const e of c.env || []) checkEnv('ServingRuntime env', e.name);
  eq(c.readinessProbe.httpGet.path, '/v2/health/ready', 'readiness on the v2 endpoint');
  eq(c.livenessProbe.httpGet.path, '/v2/health/live', 'liveness on the v2 endpoint');
  for (const k of ['requests', 'limits']) assert(c.resources[k].cpu && c.resources[k].memory, `resources.${k}`);
  eq(rt.spec.annotations['prometheus.kserve.io/path'], '/metrics', 'metrics path');
  const m = isvc.spec.predictor.model;
  eq(m.runtime, rt.metadata.name, 'InferenceService runtime');
  assert(rt.spec.supportedModelFormats.some((f) => f.name === m.modelFormat.name), `model format ${m.modelFormat.name} supported`);
  eq(m.protocolVersion, 'v2', 'InferenceService protocol');
  assert(/^(s3|gs|pvc|https?):\/\//.test(m.storageUri), `storageUri ${m.storageUri}`);
});

await test('systemd unit: ExecStart, signals and hardening options', () => {
  const text = read('deploy/systemd/snnd.service');
  const kv = {};
  let section = '';
  for (const line of text.split('\n')) {
    const l = line.trim();
    if (!l || l.startsWith('#')) continue;
    const m = l.match(/^\[(\w+)\]$/);
    if (m) { section = m[1]; continue; }
    const i = l.indexOf('=');
    assert(i > 0, `not key=value: ${l}`);
    (kv[`${section}.${l.slice(0, i)}`] ||= []).push(l.slice(i + 1));
  }
  for (const s of ['Unit.Description', 'Service.ExecStart', 'Install.WantedBy']) assert(kv[s], `${s} set`);
  eq(kv['Service.KillSignal'][0], 'SIGTERM', 'KillSignal');
  assert(/kill -HUP \$MAINPID/.test(kv['Service.ExecReload'][0]), 'reload sends SIGHUP');
  for (const [k, v] of [['NoNewPrivileges', 'yes'], ['ProtectSystem', 'strict'], ['ProtectHome', 'yes'],
                        ['PrivateTmp', 'yes'], ['PrivateDevices', 'yes'], ['RestrictNamespaces', 'yes'],
                        ['MemoryDenyWriteExecute', 'yes'], ['LockPersonality', 'yes']])
    eq((kv[`Service.${k}`] || [])[0], v, k);
  assert(kv['Service.DynamicUser'] || kv['Service.User'], 'runs as a non-root user');
  assert(kv['Service.CapabilityBoundingSet'] && kv['Service.CapabilityBoundingSet'][0] === '', 'no capabilities');
  for (const e of kv['Service.Environment'] || []) checkEnv('unit Environment', e.split('=')[0]);
});

process.exit(summary());
