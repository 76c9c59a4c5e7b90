import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topics } from '@edge-fleet/shared';
import pg from 'pg';
import { startControlPlaneProcess, type Proc } from '../test-support/control-plane-process.js';
import { connectDevice, enrollDevice, telemetryWindow } from '../test-support/device-client.js';
import { freePort, freshDatabase, startHarness, TEST_REDIS_URL, waitFor, type ApiTarget, type Harness } from '../test-support/harness.js';

/** A slow flush (400 ms) makes the difference visible: the PUBACK must wait for the commit. */
let h: Harness;
let db: pg.Client;
beforeAll(async () => {
  h = await startHarness({ TELEMETRY_FLUSH_MS: '400' });
  db = new pg.Client({ connectionString: h.dbUrl });
  await db.connect();
});
afterAll(async () => {
  await db.end();
  await h.close();
});

async function storedSeqs(client: pg.Client, deviceId: string): Promise<number[]> {
  const r = await client.query<{ seq: number }>('SELECT seq::int AS seq FROM "TelemetryWindow" WHERE "deviceId" = $1 ORDER BY seq', [
    deviceId,
  ]);
  return r.rows.map((x) => x.seq);
}

describe('telemetry acknowledged only once committed (RELIABILITY row 18)', () => {
  it('holds the QoS 1 PUBACK until the window is in Postgres, and a dead letter until it is kept', async () => {
    const e = await enrollDevice(h, 'autonomous_driving', 'edge-dsa-vehicle');
    const c = await connectDevice(h, e);
    try {
      const bootId = '00000000-0000-4000-8000-0000000000bb';
      for (let seq = 0; seq < 5; seq++) {
        const w = telemetryWindow(e.deviceId, bootId, seq);
        const sent = Date.now();
        await c.publishAsync(topics.telemetry(e.deviceId), JSON.stringify(w), { qos: 1 }); // resolves on PUBACK
        const acked = Date.now() - sent;
        const rows = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM "TelemetryWindow" WHERE "deviceId" = $1 AND seq = $2', [
          e.deviceId,
          seq,
        ]);
        expect(rows.rows[0]?.n, `window ${seq} acknowledged after ${acked} ms but not committed`).toBe(1);
      }
      // a malformed window is acknowledged once it is kept in the dead-letter table
      await c.publishAsync(topics.telemetry(e.deviceId), '{"schema":1', { qos: 1 });
      const rejected = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM "RejectedMessage" WHERE "deviceId" = $1', [
        e.deviceId,
      ]);
      expect(rejected.rows[0]?.n).toBe(1);
    } finally {
      await c.endAsync();
    }
  });

  it('row 18: a control plane SIGKILLed with windows received but not committed loses none it acknowledged', async () => {
    const fresh = await freshDatabase('ef_test_ackcrash');
    const dir = await mkdtemp(path.join(tmpdir(), 'ef-ackcrash-'));
    const [port, mqttPort] = [await freePort(), await freePort()];
    const env = {
      DATABASE_URL: fresh.url,
      REDIS_URL: TEST_REDIS_URL,
      QUEUE_PREFIX: `ef-ackcrash-${randomBytes(4).toString('hex')}`,
      DATA_DIR: dir,
      PORT: String(port),
      MQTT_EMBEDDED_PORT: String(mqttPort),
      WORKER_METRICS_PORT: '0',
      EMBEDDED_POSTGRES: 'never',
      START_REDIS: 'never',
      VARIANT_BUILD: 'off',
      // windows wait up to 10 s in the buffer: the kill lands between their receipt and their commit
      TELEMETRY_FLUSH_MS: '10000',
      LOG_LEVEL: 'warn',
    };
    const url = `http://127.0.0.1:${port}`;
    const start = async (): Promise<{ proc: Proc; target: ApiTarget }> => {
      const proc = startControlPlaneProcess('main', env);
      await waitFor(
        async () => {
          if (proc.child.exitCode !== null)
            throw new Error(`control plane exited with ${proc.child.exitCode}:\n${proc.output().slice(-3_000)}`);
          return (await fetch(`${url}/readyz`).catch(() => null))?.ok === true;
        },
        90_000,
        'control plane ready',
        { detail: () => proc.output().slice(-3_000) },
      );
      const token = (await readFile(path.join(dir, 'operator-token'), 'utf8')).trim();
      const api = (p: string, init: RequestInit = {}) =>
        fetch(`${url}${p}`, { ...init, headers: { authorization: `Bearer ${token}`, ...(init.headers ?? {}) } });
      return { proc, target: { cp: { url }, config: { mqttUrl: `mqtt://127.0.0.1:${mqttPort}` }, api } };
    };
    const client = new pg.Client({ connectionString: fresh.url });
    await client.connect();
    let running: Proc | null = null;
    try {
      const first = await start();
      running = first.proc;
      const e = await enrollDevice(first.target, 'autonomous_driving', 'edge-dsa-vehicle');
      const bootId = randomUUID();
      const acked = new Set<number>();
      const device = await connectDevice(first.target, e, { will: false });
      const send = (seq: number): Promise<void> =>
        device.publishAsync(topics.telemetry(e.deviceId), JSON.stringify(telemetryWindow(e.deviceId, bootId, seq)), { qos: 1 }).then(
          () => void acked.add(seq),
          () => undefined,
        );
      // acknowledged at the next flush, once committed
      await Promise.all([0, 1, 2, 3, 4].map(send));
      // received and buffered (the gauge says so), then the process dies before the next flush
      const later = [5, 6, 7, 8, 9];
      for (const seq of later) void send(seq);
      await waitFor(
        async () => {
          const text = await (await first.target.api('/metrics')).text();
          return Number(/edge_fleet_ingest_buffered_windows(?:\{[^}]*\})? (\d+)/.exec(text)?.[1] ?? 0) >= later.length;
        },
        20_000,
        'windows 5-9 buffered',
      );
      const exited = new Promise((resolve) => first.proc.child.once('exit', resolve));
      first.proc.child.kill('SIGKILL');
      await exited;
      running = null;
      device.end(true);
      const ackedAtKill = [...acked].sort((a, b) => a - b);
      const storedAtKill = await storedSeqs(client, e.deviceId);
      expect(
        ackedAtKill.filter((s) => !storedAtKill.includes(s)),
        'acknowledged but not in Postgres',
      ).toEqual([]);
      expect(ackedAtKill).toEqual(expect.arrayContaining([0, 1, 2, 3, 4]));
      // the kill did catch windows between receipt and commit: they were not acknowledged
      const unacked = later.filter((s) => !acked.has(s));
      expect(unacked.length, `acknowledged at the kill: ${ackedAtKill.join(',')}`).toBeGreaterThan(0);

      // restarted, the device sends again what was never acknowledged (as its outbox does): all of it lands, once
      const second = await start();
      running = second.proc;
      const again = await connectDevice(second.target, e, { will: false });
      await Promise.all(
        unacked.map((seq) =>
          again.publishAsync(topics.telemetry(e.deviceId), JSON.stringify(telemetryWindow(e.deviceId, bootId, seq)), { qos: 1 }),
        ),
      );
      await again.endAsync();
      expect(await storedSeqs(client, e.deviceId)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    } finally {
      await running?.stop();
      await client.end();
      await fresh.drop();
      await rm(dir, { recursive: true, force: true });
    }
  }, 240_000);
});
