import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topics } from '@edge-fleet/shared';
import pg from 'pg';
import { enrollDevice, telemetryWindow } from '../test-support/device-client.js';
import { startHarness, waitFor, type Harness } from '../test-support/harness.js';

/** A buffer of 3 and a slow flush: a burst of windows overflows it at once. */
let h: Harness;
/** A pool: the checks below run concurrently, one per acknowledged window. */
let db: pg.Pool;
beforeAll(async () => {
  h = await startHarness({ TELEMETRY_FLUSH_MS: '700', TELEMETRY_BUFFER_MAX: '3' });
  db = new pg.Pool({ connectionString: h.dbUrl, max: 4 });
});
afterAll(async () => {
  await db.end();
  await h.close();
});

describe('telemetry ingest under overload', () => {
  it('refuses windows beyond its buffer unacknowledged, so every acknowledged window is stored and the device sends the rest again', async () => {
    const e = await enrollDevice(h, 'autonomous_driving', 'edge-dsa-vehicle');
    const c = await mqtt.connectAsync(h.config.mqttUrl, {
      clientId: e.deviceId,
      username: e.deviceId,
      password: e.deviceSecret,
      protocolVersion: 4,
      reconnectPeriod: 300,
      clean: true,
    });
    const bootId = '00000000-0000-4000-8000-0000000000cc';
    const n = 12;
    const acked: { seq: number; stored: boolean }[] = [];
    try {
      await Promise.all(
        Array.from({ length: n }, async (_, seq) => {
          const w = telemetryWindow(e.deviceId, bootId, seq);
          await c.publishAsync(topics.telemetry(e.deviceId), JSON.stringify(w), { qos: 1 }); // resolves on PUBACK
          const row = await db.query('SELECT 1 FROM "TelemetryWindow" WHERE "deviceId" = $1 AND seq = $2', [e.deviceId, seq]);
          acked.push({ seq, stored: row.rowCount === 1 });
        }),
      );
      await waitFor(() => Promise.resolve(acked.length === n), 30_000, 'every window acknowledged');
      expect(acked.filter((a) => !a.stored)).toEqual([]);
      expect(h.cp.ingest.stats.refusedFull).toBeGreaterThan(0);
      const rows = await db.query<{ n: number }>('SELECT count(DISTINCT seq)::int AS n FROM "TelemetryWindow" WHERE "deviceId" = $1', [
        e.deviceId,
      ]);
      expect(rows.rows[0]?.n).toBe(n);
    } finally {
      await c.endAsync(true);
    }
  }, 60_000);
});
