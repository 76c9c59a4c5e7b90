#!/usr/bin/env node
// Starts the whole system on this machine: control plane (which finds or starts Postgres and
// Redis, migrates, and runs the embedded MQTT broker unless MQTT_URL is set), the dashboard, and
// a demo fleet of real device agents running a model this repo generates itself.
// Expects a built workspace (scripts/start.sh builds it first).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const env = process.env;
const HOST = env.HOST ?? '127.0.0.1';
const PORT = Number(env.PORT ?? 8080);
const DASHBOARD_PORT = Number(env.DASHBOARD_PORT ?? 3000);
const DATA_DIR = path.resolve(env.DATA_DIR ?? path.join(ROOT, '.data'));
const DEMO = (env.DEMO ?? 'on') !== 'off';
/** DEMO_TRAFFIC=off leaves the demo agents without applications: their windows are then the probe's. */
const TRAFFIC = (env.DEMO_TRAFFIC ?? 'on') !== 'off';
const API = `http://${HOST}:${PORT}`;
/** The demo agents' local inference API ports: this one and the next ones, one per agent. */
const SERVE_PORT_BASE = Number(env.DEMO_SERVE_PORT_BASE ?? 8701);
/**
 * The demo's slowed hybrid device: from this many seconds after it starts (after its model's
 * probation), every run of its model takes DEMO_SLOW_MS longer (the agent's --inject-latency-ms fault
 * injection), so its forwarded share rises on the dashboard. DEMO_SLOW_MS=0 leaves it alone.
 */
const SLOW_MS = Number(env.DEMO_SLOW_MS ?? 80);
const SLOW_AFTER_S = Number(env.DEMO_SLOW_AFTER_S ?? 90);

/** One device per scenario of the default policy set, each on different hardware. */
const DEMO_FLEET = [
  { scenario: 'financial_trading', profile: 'edge-npu-trading', name: 'trading-box-01', model: 'mlp' },
  { scenario: 'autonomous_driving', profile: 'edge-dsa-vehicle', name: 'vehicle-07', model: 'convnet' },
  { scenario: 'customer_support_agent', profile: 'edge-gpu-kiosk', name: 'kiosk-12', model: 'mlp' },
  { scenario: 'robotic_manipulation', profile: 'robot-npu-arm', name: 'arm-03', model: 'convnet' },
  { scenario: 'content_generation_agent', profile: 'cloud-gpu-node', name: 'gpu-node-a', model: 'mlp' },
  { scenario: 'data_analysis_agent', profile: 'cloud-cpu-node', name: 'cpu-node-b', model: 'mlp' },
  // the cloud node of the hybrid kiosk's scenario: kiosk-12 forwards here once its own model is slowed
  { scenario: 'customer_support_agent', profile: 'cloud-cpu-node', name: 'support-cloud-01', model: 'mlp' },
];
/** The hybrid device the demo slows (fault injection), and whose forwarded share the dashboard then shows rising. */
const SLOWED = 'kiosk-12';

const children = [];
function run(name, args, extraEnv = {}) {
  const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...env, DATA_DIR, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
  const prefix = (line) => `[${name}] ${line}\n`;
  for (const s of [child.stdout, child.stderr]) {
    let buf = '';
    s.on('data', (b) => {
      buf += b.toString();
      const lines = buf.split('\n');
      buf = lines.pop() ?? '';
      if (env.VERBOSE === '1' || name === 'control-plane') for (const l of lines) if (l) process.stdout.write(prefix(l));
    });
  }
  child.on('exit', (code, signal) => {
    if (!stopping) process.stdout.write(prefix(`exited (${signal ?? code})`));
    if (name === 'control-plane' && !stopping) shutdown(1);
  });
  children.push(child);
  return child;
}

let stopping = false;
function shutdown(code = 0) {
  if (stopping) return;
  stopping = true;
  for (const c of [...children].reverse()) c.kill('SIGTERM');
  setTimeout(() => process.exit(code), 3_000).unref();
  Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r() : c.once('exit', r))))).then(() => process.exit(code));
}
process.on('SIGINT', () => shutdown(0));
process.on('SIGTERM', () => shutdown(0));

async function waitReady(url, timeoutMs) {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`${url} did not become ready within ${timeoutMs / 1000} s`);
}

async function api(token, method, p, body) {
  const headers = { authorization: `Bearer ${token}` };
  const init = { method, headers };
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) {
    headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch(`${API}${p}`, init);
  if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${await res.text()}`);
  return res.json();
}

/** Uploads the demo models (generated here, never downloaded) and gives each scenario its model. */
async function demoModels(token) {
  const { buildMlpClassifier, buildConvNet } = await import(path.join(ROOT, 'packages/onnx-builder/dist/index.js'));
  const wanted = { mlp: ['demo-mlp-classifier', buildMlpClassifier({ seed: 1 })], convnet: ['demo-convnet', buildConvNet({ seed: 1 })] };
  const { items } = await api(token, 'GET', '/api/v1/models');
  const ids = {};
  for (const [key, [name, model]] of Object.entries(wanted)) {
    const existing = items.find((v) => v.name === name && v.version === '1.0.0');
    if (existing) {
      ids[key] = existing.id;
      continue;
    }
    const form = new FormData();
    form.set('file', new Blob([model.bytes]), `${name}.onnx`);
    form.set('name', name);
    form.set('version', '1.0.0');
    form.set('inputs', JSON.stringify(model.inputs));
    ids[key] = (await api(token, 'POST', '/api/v1/models', form)).id;
  }
  // wait (bounded) for the variant builder, so each device gets the precision that fits it
  for (const id of Object.values(ids)) {
    for (let i = 0; i < 120; i++) {
      const v = await api(token, 'GET', `/api/v1/models/${id}`);
      if (v.variants.every((x) => x.status !== 'building')) break;
      await new Promise((r) => setTimeout(r, 1_000));
    }
  }
  const overview = items.flatMap((v) => v.scenarios);
  for (const d of DEMO_FLEET) {
    if (!overview.includes(d.scenario)) await api(token, 'PUT', `/api/v1/scenarios/${d.scenario}/model`, { modelVersionId: ids[d.model] });
  }
}

async function demoFleet(token) {
  for (const [i, d] of DEMO_FLEET.entries()) {
    const dataDir = path.join(DATA_DIR, 'demo-agents', d.name);
    // one machine, six "devices": each agent's local inference API gets its own loopback port
    // the young-generation size the agent's own `fleet-agent` command starts with (its RSS figure in the README)
    const args = [
      '--max-semi-space-size=1',
      'apps/device-agent/dist/cli.js',
      '--url',
      API,
      '--data-dir',
      dataDir,
      '--serve-port',
      String(SERVE_PORT_BASE + i),
    ];
    if (d.name === SLOWED && SLOW_MS > 0)
      args.push('--inject-latency-ms', String(SLOW_MS), '--inject-latency-after-s', String(SLOW_AFTER_S));
    // cloud nodes (cloud presets) serve TCP only with a forwarding grant or this operator token: the demo's traffic uses the token
    if (d.profile.startsWith('cloud-')) args.push('--serve-token-file', await demoToken(dataDir));
    if (!existsSync(path.join(dataDir, 'credentials.json'))) {
      const t = await api(token, 'POST', '/api/v1/enrollment-tokens', { scenario: d.scenario, labels: { demo: 'true' } });
      args.push('--token', t.token, '--profile', d.profile, '--name', d.name);
    }
    run(`agent ${d.name}`, args);
  }
}

/** A cloud node's bearer token for the demo's traffic, kept in its data dir (mode 0600) and reused on restart. */
async function demoToken(dataDir) {
  const file = path.join(dataDir, 'demo-serve-token');
  if (!existsSync(file)) {
    await mkdir(dataDir, { recursive: true });
    await writeFile(file, randomBytes(24).toString('hex'), { mode: 0o600 });
  }
  return file;
}

/**
 * The demo devices' applications: one process sending real inference requests to each agent's local
 * API at its scenario's tier rate, so the dashboard shows traffic, not the probe. A child of this
 * script: it stops with the demo (and by itself if this script dies).
 */
async function demoTraffic(token) {
  const { items } = await api(token, 'GET', '/api/v1/policies');
  const tierOf = new Map(items.map((p) => [p.scenario, p.tier]));
  const targets = await Promise.all(
    DEMO_FLEET.map(async (d, i) => ({
      name: d.name,
      baseUrl: `http://127.0.0.1:${SERVE_PORT_BASE + i}`,
      model: d.scenario,
      tier: tierOf.get(d.scenario) ?? 'low',
      ...(d.profile.startsWith('cloud-')
        ? { token: (await readFile(await demoToken(path.join(DATA_DIR, 'demo-agents', d.name)), 'utf8')).trim() }
        : {}),
    })),
  );
  run('demo-traffic', ['apps/fleet-sim/dist/traffic/demo-traffic.cli.js', JSON.stringify(targets)]);
}

async function main() {
  // the demo's hybrid device forwards when its slowed model would miss the tier's latency target
  run(
    'control-plane',
    ['apps/control-plane/dist/main.js'],
    DEMO ? { HYBRID_FORWARD_ON_LATENCY: env.HYBRID_FORWARD_ON_LATENCY ?? 'on' } : {},
  );
  await waitReady(`${API}/readyz`, 180_000);
  const token = (await readFile(path.join(DATA_DIR, 'operator-token'), 'utf8')).trim();
  run(
    'dashboard',
    ['apps/dashboard/node_modules/next/dist/bin/next', 'start', 'apps/dashboard', '-p', String(DASHBOARD_PORT), '-H', HOST],
    { CONTROL_PLANE_URL: API, NEXT_TELEMETRY_DISABLED: '1' },
  );
  if (DEMO) {
    await demoModels(token);
    await demoFleet(token);
    if (TRAFFIC) await demoTraffic(token);
  }
  await waitReady(`http://${HOST}:${DASHBOARD_PORT}/login`, 60_000);
  process.stdout.write(
    [
      '',
      'Edge Fleet is running.',
      `  Dashboard:      http://${HOST}:${DASHBOARD_PORT}/login#token=${token}`,
      `  Operator token: ${token}   (also in ${path.join(DATA_DIR, 'operator-token')})`,
      `  API:            ${API}/api/v1   (OpenAPI: ${API}/api/v1/openapi.json)`,
      `  MQTT:           ${env.MQTT_URL ?? `mqtt://127.0.0.1:${env.MQTT_EMBEDDED_PORT ?? 1884}`}`,
      DEMO
        ? `  Demo fleet:     ${DEMO_FLEET.length} agents: one per scenario, and a cloud node for the hybrid kiosk`
        : '  Demo fleet:     off (DEMO=off)',
      ...(DEMO && TRAFFIC
        ? [
            `  Demo traffic:   inference requests to ports ${SERVE_PORT_BASE}-${SERVE_PORT_BASE + DEMO_FLEET.length - 1} at each tier's rate (DEMO_TRAFFIC=off: none)`,
          ]
        : []),
      ...(DEMO && SLOW_MS > 0
        ? [`  Fault injection: ${SLOWED} slowed by ${SLOW_MS} ms a run from ${SLOW_AFTER_S} s after start: watch its forwarded share rise`]
        : []),
      'Press Ctrl+C to stop.',
      '',
    ].join('\n'),
  );
}

main().catch((e) => {
  process.stderr.write(`start failed: ${e instanceof Error ? e.message : String(e)}\n`);
  shutdown(1);
});
