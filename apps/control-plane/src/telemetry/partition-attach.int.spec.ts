import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePayload, topics } from '@edge-fleet/shared';
import pg from 'pg';
import { enrollDevice, telemetryWindow } from '../test-support/device-client.js';
import { startHarness, waitFor, type Harness } from '../test-support/harness.js';
import { partitionName } from './telemetry-partition.repository.js';

let h: Harness;
beforeAll(async () => {
  // windows up to 10 days before enrollment are believable here: one of three days ago, a day with no partition yet
  h = await startHarness({ TELEMETRY_PRE_ENROLL_SECONDS: String(10 * 86_400) });
}, 120_000);
afterAll(async () => {
  await h.close();
});

describe('telemetry ingest while a day partition is attached', () => {
  it('row 18: a window routed to the default partition while its day is attached is stored, not refused as poison', async () => {
    const d = await enrollDevice(h, 'robotic_manipulation', 'robot-npu-arm');
    const day = new Date(Date.now() - 3 * 86_400_000).toISOString().slice(0, 10);
    const start = Date.parse(`${day}T12:00:00Z`);
    const ddl = new pg.Client({ connectionString: h.dbUrl });
    const look = new pg.Client({ connectionString: h.dbUrl });
    await ddl.connect();
    await look.connect();
    try {
      const exists = await look.query('SELECT 1 FROM pg_class WHERE relname = $1', [partitionName(day)]);
      expect(exists.rowCount, 'no partition for the day yet').toBe(0);
      // the retention job's attach, held open: inserts may run beside it and are routed by the old map
      await ddl.query('BEGIN');
      await ddl.query(`CREATE TABLE "${partitionName(day)}" (LIKE "TelemetryWindow" INCLUDING DEFAULTS)`);
      await ddl.query(
        `ALTER TABLE "TelemetryWindow" ATTACH PARTITION "${partitionName(day)}" FOR VALUES FROM ('${day}T00:00:00Z') TO ('${new Date(start + 86_400_000).toISOString().slice(0, 10)}T00:00:00Z')`,
      );
      const w = telemetryWindow(d.deviceId, randomUUID(), 0, {
        windowStart: new Date(start).toISOString(),
        windowEnd: new Date(start + 1_000).toISOString(),
      });
      const bytes = Buffer.from(JSON.stringify(w));
      const accepted = h.cp.ingest.accept(topics.telemetry(d.deviceId), parsePayload('telemetry', d.deviceId, bytes), bytes);
      // the insert waits on the default partition the attach holds
      await waitFor(
        async () =>
          (await look.query(`SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'WITH input AS%'`)).rowCount ===
          1,
        20_000,
        'the insert waiting on the attach',
      );
      await ddl.query('COMMIT');
      expect(await accepted).toEqual({ ok: true });
      const rows = await look.query(`SELECT tableoid::regclass::text AS part FROM "TelemetryWindow" WHERE "deviceId" = $1`, [d.deviceId]);
      expect(rows.rows).toEqual([{ part: `"${partitionName(day)}"` }]);
      const letters = await look.query('SELECT 1 FROM "RejectedMessage" WHERE "deviceId" = $1', [d.deviceId]);
      expect(letters.rowCount).toBe(0);
    } finally {
      await ddl.query('ROLLBACK').catch(() => undefined);
      await ddl.end();
      await look.end();
    }
  });
});
