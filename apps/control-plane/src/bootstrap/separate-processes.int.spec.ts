import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALERT_WEBHOOKS } from '../alerts/alert-webhook.queue.js';
import { ROLLUP_FOLDS } from '../telemetry/telemetry-rollup.queue.js';
import { DESIRED_STATE } from '../desired-state/desired-state.queue.js';
import { ROLLOUT_STEPS } from '../rollouts/rollout.queue.js';
import { DIST, startControlPlaneProcess as start, startListening, type Proc } from '../test-support/control-plane-process.js';
import { freshDatabase, jsonPost, TEST_REDIS_URL, uploadMlp, waitFor, type ApiTarget } from '../test-support/harness.js';
import { Mosquitto } from '@edge-fleet/test-utils';
import { VirtualDevice } from '../test-support/virtual-device.js';
import { MAINTENANCE } from '../worker/maintenance.queue.js';

/**
 * Scale-out as deployed: two `api` processes and one `worker` process of the built control plane
 * (dist/api.js, dist/worker.js) on one Postgres, one Redis and an external broker (a private
 * Mosquitto). The worker starts first; the api migrates (a no-op here: the database is a copy of
 * the migrated template, and infra/wait-for-migrations.int.spec.ts covers the worker's wait).
 */
const SCENARIO = 'data_analysis_agent';

const procs: Proc[] = [];
let mosquitto: Mosquitto;
let dir = '';
let db: { url: string; drop: () => Promise<void> };
let prefix = '';
let worker: Proc;
let workerMetrics = '';
let api1: ApiTarget;
let api2: ApiTarget;
/** What every process of the test is started with. */
let env: Record<string, string> = {};

async function startApi(env: Record<string, string>): Promise<ApiTarget> {
  // each replica its own ingest session on the broker (MQTT_CLIENT_ID), as in a deployment
  const { proc, url } = await startListening('api', (port) => ({ ...env, PORT: String(port), MQTT_CLIENT_ID: `ef-split-api-${port}` }), {
    what: 'api',
    readyWithinMs: 90_000,
  });
  procs.push(proc);
  // written before the api listens (both apis share DATA_DIR)
  const operatorToken = (await readFile(path.join(dir, 'operator-token'), 'utf8')).trim();
  return {
    cp: { url },
    config: { mqttUrl: mosquitto.url },
    api: (p2, init = {}) =>
      fetch(`${url}${p2}`, { ...init, headers: { authorization: `Bearer ${operatorToken}`, ...(init.headers ?? {}) } }),
  };
}

beforeAll(async () => {
  if (!existsSync(path.join(DIST, 'worker.js')))
    throw new Error('build the control plane first (pnpm --filter @edge-fleet/control-plane run build)');
  mosquitto = await Mosquitto.create();
  await mosquitto.start();
  dir = await mkdtemp(path.join(tmpdir(), 'ef-split-'));
  db = await freshDatabase('ef_test_split');
  prefix = `ef-split-${randomBytes(4).toString('hex')}`;
  env = {
    DATABASE_URL: db.url,
    REDIS_URL: TEST_REDIS_URL,
    ...mosquitto.controlPlaneEnv,
    QUEUE_PREFIX: prefix,
    DATA_DIR: dir,
    EMBEDDED_POSTGRES: 'never',
    START_REDIS: 'never',
    VARIANT_BUILD: 'off',
    TELEMETRY_FLUSH_MS: '20',
    TELEMETRY_QUOTA_SLACK: '100',
    ROLLOUT_SWEEP_MS: '500',
    LOG_LEVEL: 'info',
  };
  // the worker binds a port of its choosing for its /metrics and says which: no port to lose to another process
  worker = start('worker', { ...env, WORKER_METRICS_PORT: '0' });
  procs.push(worker);
  // started together, as replicas are: each migrates (Prisma's lock makes that safe) and may write
  // the bootstrap token file; whichever token the file ends with is valid for both (one database)
  [api1, api2] = await Promise.all([startApi(env), startApi(env)]);
  const metricsPort = await waitFor(
    () => /"metricsPort":(\d+)[^\n]*"msg":"worker ready"/.exec(worker.output())?.[1],
    30_000,
    'worker ready',
    {
      detail: () => worker.output().slice(-3_000),
    },
  );
  workerMetrics = `http://127.0.0.1:${metricsPort}/metrics`;
}, 240_000);

afterAll(async () => {
  for (const p of procs.reverse()) await p.stop();
  await mosquitto?.close();
  await db?.drop();
  await rm(dir, { recursive: true, force: true });
}, 60_000);

async function windowsInserted(a: ApiTarget): Promise<number> {
  const text = await (await a.api('/metrics')).text();
  return Number(/edge_fleet_ingest_windows_total\{outcome="inserted",role="api"\} (\d+)/.exec(text)?.[1] ?? 0);
}

describe('two api processes and one worker process', () => {
  it('serve each queue from the right side: desired states from both apis, rollout steps and schedules from the worker', async () => {
    const connection = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
    const count = async (name: string) => {
      const q = new Queue(name, { connection, prefix });
      try {
        return await q.getWorkersCount();
      } finally {
        await q.close();
      }
    };
    try {
      expect(await count(DESIRED_STATE.name)).toBe(2);
      expect(await count(ROLLOUT_STEPS.name)).toBe(1);
      expect(await count(MAINTENANCE.name)).toBe(1);
      expect(await count(ALERT_WEBHOOKS.name)).toBe(1);
      expect(await count(ROLLUP_FOLDS.name)).toBe(1);
      const folds = new Queue(ROLLUP_FOLDS.name, { connection, prefix });
      expect((await folds.getJobSchedulers()).map((s) => s.key)).toEqual(['fold-telemetry-rollups']);
      await folds.close();
      const q = new Queue(MAINTENANCE.name, { connection, prefix });
      const schedulers = (await q.getJobSchedulers()).map((s) => s.key).sort();
      await q.close();
      expect(schedulers).toEqual([
        'evaluate-alerts',
        'purge-sessions',
        'refresh-hybrid-grants',
        'refresh-manifests',
        'sweep-presence',
        'sweep-rollouts',
        'telemetry-retention',
      ]);
    } finally {
      connection.disconnect();
    }
  });

  it('gives devices enrolled through either api their own desired state, advances a rollout made through api #2, and commits telemetry through both', async () => {
    const v1 = await uploadMlp(api1, 'split-mlp', '1', 21);
    expect((await api2.api(`/api/v1/scenarios/${SCENARIO}/model`, jsonBody('PUT', { modelVersionId: v1.id }))).status).toBe(200);
    const devices = [
      await VirtualDevice.start(api1, SCENARIO, 'cloud-cpu-node'),
      await VirtualDevice.start(api2, SCENARIO, 'cloud-cpu-node'),
    ];
    try {
      for (const d of devices) {
        await waitFor(() => Promise.resolve(d.active?.variantId === v1.variant), 20_000, `device ${d.id} running v1`);
        // topic isolation: a device only ever receives its own desired state
        expect(d.received.every((r) => r.deviceId === d.id)).toBe(true);
        expect(d.errors).toEqual([]);
      }
      const v2 = await uploadMlp(api1, 'split-mlp', '2', 22);
      const res = await jsonPost(api2, '/api/v1/rollouts', {
        modelVersionId: v2.id,
        target: { deviceIds: devices.map((d) => d.id) },
        waves: [
          { count: 1, soakSeconds: 2 },
          { percent: 100, soakSeconds: 2 },
        ],
      });
      expect(res.status).toBe(201);
      const { id } = (await res.json()) as { id: string };
      const done = await waitFor(
        async () => {
          const r = (await (await api1.api(`/api/v1/rollouts/${id}`)).json()) as { status: string; reason: string };
          return ['completed', 'rolled_back', 'paused'].includes(r.status) ? r : null;
        },
        60_000,
        'rollout finished',
      );
      expect(done.status, done.reason).toBe('completed');
      for (const d of devices) expect(d.active?.variantId).toBe(v2.variant);
      // the shared subscription splits the devices' windows between the two apis; both commit
      await waitFor(async () => (await windowsInserted(api1)) > 0 && (await windowsInserted(api2)) > 0, 20_000, 'both apis committing');
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      const rows = await client.query<{ devices: number }>(
        'SELECT count(DISTINCT "deviceId")::int AS devices FROM "TelemetryWindow" WHERE "deviceId" = ANY($1::uuid[])',
        [devices.map((d) => d.id)],
      );
      await client.end();
      expect(rows.rows[0]?.devices).toBe(2);
      // the worker serves its own /metrics: the rollout's steps ran there, not in the apis
      const workerText = await (await fetch(workerMetrics)).text();
      expect(workerText).toMatch(
        /^edge_fleet_job_duration_seconds_count\{role="worker",queue="rollout-steps",job="[a-z-]+",outcome="completed"\} [1-9]/m,
      );
      expect(workerText).toMatch(/^edge_fleet_rollouts\{status="completed",role="worker"\} [1-9]/m);
      expect(await (await api1.api('/metrics')).text()).not.toMatch(/queue="rollout-steps"/);
      // and its own readiness: Postgres and Redis answer
      const ready = await fetch(workerMetrics.replace('/metrics', '/readyz'));
      expect(ready.status).toBe(200);
      expect(await ready.json()).toEqual({ status: 'ready', checks: { postgres: true, redis: true } });
    } finally {
      await Promise.all(devices.map((d) => d.stop()));
    }
  }, 120_000);

  it('an api whose port another process takes before it binds starts again on a new port; that process answering /readyz is not taken for it', async () => {
    let stranger: Server | null = null;
    let taken = 0;
    const { proc, url } = await startListening(
      'api',
      (port) => {
        if (!stranger) {
          // another process on the port by the time the api binds it, and it answers /readyz with 200
          stranger = createServer((_req, res) => res.writeHead(200).end('{"status":"ready"}')).listen(port, '127.0.0.1');
          taken = port;
        }
        return { ...env, PORT: String(port), MQTT_CLIENT_ID: `ef-split-api-${port}` };
      },
      { what: 'third api', readyWithinMs: 90_000 },
    );
    try {
      expect(taken).toBeGreaterThan(0);
      expect(url).not.toBe(`http://127.0.0.1:${taken}`);
      expect(proc.child.exitCode).toBeNull();
      expect((await fetch(`${url}/api/v1/openapi.json`)).status).toBe(200);
    } finally {
      await proc.stop();
      await new Promise((resolve) => stranger?.close(resolve));
    }
  }, 240_000); // two starts of an api: 77 s seen at load average 11

  it('stops each process cleanly on SIGTERM (job processors first, then the connections)', async () => {
    for (const p of procs) {
      await p.stop();
      expect({ code: p.child.exitCode, signal: p.child.signalCode }, p.output().slice(-2_000)).toEqual({ code: 0, signal: null });
      expect(p.output()).toMatch(/"msg":"shutting down"/);
      expect(p.output()).not.toMatch(/"msg":"stop failed"/);
    }
  }, 60_000);
});

function jsonBody(method: string, body: unknown): RequestInit {
  return { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
}
