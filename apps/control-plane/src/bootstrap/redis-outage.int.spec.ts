import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { topics } from '@edge-fleet/shared';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIST, startControlPlaneProcess, type Proc } from '../test-support/control-plane-process.js';
import { connectDevice, enrollDevice, telemetryWindow } from '../test-support/device-client.js';
import { ADMIN_URL, freePort, freshDatabase, uploadMlp, waitFor, type ApiTarget } from '../test-support/harness.js';
import { RedisServer } from '../test-support/redis-server.js';
import { VirtualDevice } from '../test-support/virtual-device.js';

/**
 * RELIABILITY row 20 on the built control plane (dist/main.js, api and worker in one process,
 * embedded broker) with a private redis-server that the tests kill and start again; the machine's
 * Redis is never touched. Issue 14's Redis bugs: the scenario PUT hanging for the whole outage,
 * stack traces on stderr, SIGTERM never exiting, an evicting Redis found after migrations.
 */
const SCENARIO = 'data_analysis_agent';

function baseEnv(o: { dbUrl: string; redisUrl: string; dataDir: string }): Record<string, string> {
  return {
    DATABASE_URL: o.dbUrl,
    REDIS_URL: o.redisUrl,
    DATA_DIR: o.dataDir,
    QUEUE_PREFIX: `ef-redis-${randomUUID().slice(0, 8)}`,
    EMBEDDED_POSTGRES: 'never',
    START_REDIS: 'never',
    VARIANT_BUILD: 'off',
    TELEMETRY_FLUSH_MS: '20',
    TELEMETRY_QUOTA_SLACK: '100',
    LOG_LEVEL: 'info',
  };
}

async function query<T extends pg.QueryResultRow>(dbUrl: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: dbUrl });
  await c.connect();
  try {
    return (await c.query<T>(sql, params)).rows;
  } finally {
    await c.end();
  }
}

function exited(p: Proc): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (p.child.exitCode !== null || p.child.signalCode !== null)
    return Promise.resolve({ code: p.child.exitCode, signal: p.child.signalCode });
  return new Promise((resolve) => p.child.once('exit', (code, signal) => resolve({ code, signal })));
}

const putModel = (a: ApiTarget, modelVersionId: string): Promise<Response> =>
  a.api(`/api/v1/scenarios/${SCENARIO}/model`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ modelVersionId }),
    // without the fix the request waits for Redis to return, which only happens after it answers
    signal: AbortSignal.timeout(15_000),
  });

describe('row 20: the control plane while its Redis is down', () => {
  let redis: RedisServer;
  let db: { url: string; drop: () => Promise<void> };
  let dir = '';
  let cp: Proc;
  let api: ApiTarget;

  beforeAll(async () => {
    if (!existsSync(path.join(DIST, 'main.js')))
      throw new Error('build the control plane first (pnpm --filter @edge-fleet/control-plane run build)');
    redis = await RedisServer.create();
    await redis.start();
    db = await freshDatabase('ef_test_redis_outage');
    dir = await mkdtemp(path.join(tmpdir(), 'ef-redis-outage-'));
    const port = await freePort();
    const mqttPort = await freePort();
    cp = startControlPlaneProcess('main', {
      ...baseEnv({ dbUrl: db.url, redisUrl: redis.url, dataDir: dir }),
      PORT: String(port),
      MQTT_EMBEDDED_PORT: String(mqttPort),
    });
    const url = `http://127.0.0.1:${port}`;
    await waitFor(
      async () => {
        if (cp.child.exitCode !== null) throw new Error(`control plane exited with ${cp.child.exitCode}:\n${cp.output().slice(-3_000)}`);
        return (await fetch(`${url}/readyz`)).ok;
      },
      90_000,
      'control plane ready',
      { retryErrors: true, intervalMs: 250, detail: () => cp.output().slice(-3_000) },
    );
    const token = (await readFile(path.join(dir, 'operator-token'), 'utf8')).trim();
    api = {
      cp: { url },
      config: { mqttUrl: `mqtt://127.0.0.1:${mqttPort}` },
      api: (p, init = {}) => fetch(`${url}${p}`, { ...init, headers: { authorization: `Bearer ${token}`, ...(init.headers ?? {}) } }),
    };
  }, 120_000);

  afterAll(async () => {
    await cp?.stop();
    await redis?.close();
    await db?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 60_000);

  it('row 20: a scenario PUT (and a new rollout) during an outage answers 503 naming Redis and changes nothing; after Redis returns it assigns and the device gets the model', async () => {
    const v1 = await uploadMlp(api, 'redis-outage-mlp', '1', 41);
    const device = await VirtualDevice.start(api, SCENARIO, 'cloud-cpu-node');
    try {
      const stored = async () => ({
        model: (await query<{ m: string | null }>(db.url, 'SELECT "modelVersionId" AS m FROM "Policy" WHERE scenario = $1', [SCENARIO]))[0]
          ?.m,
        assignments: (
          await query<{ n: number }>(db.url, 'SELECT count(*)::int AS n FROM "Assignment" WHERE "deviceId" = $1', [device.id])
        )[0]?.n,
        audits: (
          await query<{ n: number }>(db.url, `SELECT count(*)::int AS n FROM "AuditEvent" WHERE action = 'scenario.assign_model'`)
        )[0]?.n,
        rollouts: (await query<{ n: number }>(db.url, 'SELECT count(*)::int AS n FROM "Rollout"'))[0]?.n,
      });
      const before = await stored();
      const mark = cp.mark();
      await redis.kill();

      const refused = await putModel(api, v1.id);
      const body = (await refused.json()) as { error: { code: string; message: string } };
      expect(refused.status, JSON.stringify(body)).toBe(503);
      expect(body.error.code).toBe('unavailable');
      expect(body.error.message).toMatch(/Redis/);
      // a rollout, whose steps go through Redis too, is refused the same way
      const rollout = await api.api('/api/v1/rollouts', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ modelVersionId: v1.id, target: { deviceIds: [device.id] }, waves: [{ percent: 100, soakSeconds: 1 }] }),
        signal: AbortSignal.timeout(15_000),
      });
      expect(rollout.status, await rollout.clone().text()).toBe(503);
      expect(((await rollout.json()) as { error: { message: string } }).error.message).toMatch(/Redis/);
      expect(await stored()).toEqual(before);

      await redis.start();
      // refused (503) until the control plane has reconnected, then accepted
      const accepted = await waitFor(
        async () => {
          const r = await putModel(api, v1.id);
          return r.status === 503 ? null : r;
        },
        30_000,
        'the PUT accepted after Redis returned',
        { intervalMs: 250 },
      );
      expect(accepted.status, await accepted.clone().text()).toBe(200);
      // the notification goes through the (restarted) Redis queue to the device
      await waitFor(() => device.active?.variantId === v1.variant, 30_000, 'the device running the model', {
        detail: () => `device errors: ${device.errors.join('; ')}\n${cp.output().slice(-3_000)}`,
      });
      expect((await stored()).model).toBe(v1.id);
      // the outage and the return, each one JSON line (issue 14: a stack trace per reconnect attempt)
      const lines = cp
        .outputSince(mark)
        .split('\n')
        .filter((l) => l.trim() !== '');
      for (const l of lines) expect(() => JSON.parse(l) as unknown, l).not.toThrow();
      expect(lines.filter((l) => l.includes('"msg":"redis unreachable"'))).toHaveLength(1);
      expect(lines.filter((l) => l.includes('"msg":"redis reachable again"'))).toHaveLength(1);
    } finally {
      await device.stop();
    }
  }, 120_000);

  it('row 20: an outage is a few JSON lines, and SIGTERM during it exits promptly with code 0 keeping the telemetry acknowledged before it', async () => {
    const e = await enrollDevice(api, SCENARIO, 'cloud-cpu-node');
    const client = await connectDevice(api, e);
    const bootId = randomUUID();
    try {
      await client.publishAsync(topics.telemetry(e.deviceId), JSON.stringify(telemetryWindow(e.deviceId, bootId, 1)), { qos: 1 });
      const mark = cp.mark();
      await redis.kill();
      // acknowledged (PUBACK) during the outage, before the SIGTERM
      await client.publishAsync(topics.telemetry(e.deviceId), JSON.stringify(telemetryWindow(e.deviceId, bootId, 0)), { qos: 1 });
      // the outage's length over which lines are counted (issue 14 counted 180 lines in 9 s)
      await new Promise((r) => setTimeout(r, 5_000));
      const lines = cp
        .outputSince(mark)
        .split('\n')
        .filter((l) => l.trim() !== '');
      for (const l of lines) expect(() => JSON.parse(l) as unknown, l).not.toThrow();
      const msgs = lines.map((l) => (JSON.parse(l) as { msg?: string }).msg);
      console.info(`row 20: ${lines.length} line(s) written during a 5 s Redis outage: ${JSON.stringify(msgs)}`);
      expect(lines.length, lines.join('\n')).toBeLessThanOrEqual(4);
      expect(msgs.filter((m) => m === 'redis unreachable')).toHaveLength(1);

      const t0 = Date.now();
      const exit = exited(cp);
      cp.child.kill('SIGTERM');
      const result = await Promise.race([exit, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 20_000))]);
      const tookMs = Date.now() - t0;
      console.info(`row 20: SIGTERM with Redis down: exited after ${tookMs} ms`);
      expect(result, cp.output().slice(-3_000)).toEqual({ code: 0, signal: null });
      expect(tookMs).toBeLessThan(15_000);
      expect(cp.output()).not.toMatch(/"msg":"stop failed"/);
      const rows = await query<{ seq: string }>(db.url, 'SELECT seq::text FROM "TelemetryWindow" WHERE "deviceId" = $1 ORDER BY seq', [
        e.deviceId,
      ]);
      expect(rows.map((r) => r.seq)).toEqual(['0', '1']);
    } finally {
      client.end(true);
    }
  }, 120_000);
});

describe('row 20: a worker process while its Redis is down', () => {
  it('row 20: exits promptly with code 0 on SIGTERM', async () => {
    const redis = await RedisServer.create();
    await redis.start();
    const db = await freshDatabase('ef_test_redis_worker');
    const dir = await mkdtemp(path.join(tmpdir(), 'ef-redis-worker-'));
    const p = startControlPlaneProcess('worker', {
      ...baseEnv({ dbUrl: db.url, redisUrl: redis.url, dataDir: dir }),
      WORKER_METRICS_PORT: String(await freePort()),
    });
    try {
      await waitFor(
        () => {
          if (p.child.exitCode !== null) throw new Error(`worker exited with ${p.child.exitCode}:\n${p.output().slice(-3_000)}`);
          return /"msg":"worker ready"/.test(p.output());
        },
        60_000,
        'worker ready',
        { intervalMs: 250, detail: () => p.output().slice(-3_000) },
      );
      await redis.kill();
      const t0 = Date.now();
      const exit = exited(p);
      p.child.kill('SIGTERM');
      const result = await Promise.race([exit, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 20_000))]);
      console.info(`row 20: worker SIGTERM with Redis down: exited after ${Date.now() - t0} ms`);
      expect(result, p.output().slice(-3_000)).toEqual({ code: 0, signal: null });
      expect(Date.now() - t0).toBeLessThan(15_000);
    } finally {
      await p.stop();
      await redis.close();
      await db.drop();
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

describe('row 20: a Redis that evicts keys', () => {
  it('row 20: refuses to start, naming the policy, before anything else starts (no migration ran)', async () => {
    const redis = await RedisServer.create({ policy: 'allkeys-lru' });
    await redis.start();
    const dir = await mkdtemp(path.join(tmpdir(), 'ef-redis-evict-'));
    const name = `ef_test_evict_${Date.now().toString(36)}_${randomUUID().slice(0, 6)}`;
    await query(ADMIN_URL, `CREATE DATABASE "${name}"`);
    const dbUrl = new URL(ADMIN_URL);
    dbUrl.pathname = `/${name}`;
    try {
      const t0 = Date.now();
      const p = startControlPlaneProcess('main', {
        ...baseEnv({ dbUrl: dbUrl.toString(), redisUrl: redis.url, dataDir: dir }),
        PORT: String(await freePort()),
        MQTT_EMBEDDED_PORT: String(await freePort()),
      });
      const result = await Promise.race([exited(p), new Promise<'running'>((r) => setTimeout(() => r('running'), 60_000))]);
      if (result === 'running') await p.stop();
      console.info(`row 20: refused an evicting Redis after ${Date.now() - t0} ms`);
      expect(result, p.output()).toEqual({ code: 1, signal: null });
      expect(p.output()).toMatch(/maxmemory-policy is "allkeys-lru".*noeviction/);
      expect(p.output()).not.toMatch(/migrations applied/);
      const tables = await query<{ n: number }>(
        dbUrl.toString(),
        `SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = 'public'`,
      );
      expect(tables[0]?.n).toBe(0);
    } finally {
      await query(ADMIN_URL, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await redis.close();
      await rm(dir, { recursive: true, force: true });
    }
  }, 90_000);
});
