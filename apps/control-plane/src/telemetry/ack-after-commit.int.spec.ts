import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topics } from '@edge-fleet/shared';
import pg from 'pg';
import { connectDevice, enrollDevice, telemetryWindow } from '../test-support/device-client.js';
import { startHarness, type Harness } from '../test-support/harness.js';

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

describe('telemetry acknowledged only once committed (RELIABILITY row 18)', () => {
  it('holds the QoS 1 PUBACK until the window is in Postgres, so a crash before the commit loses nothing acknowledged', async () => {
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
});
