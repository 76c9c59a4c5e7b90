import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePayload, topics } from '@edge-fleet/shared';
import pg from 'pg';
import { enrollDevice, telemetryWindow } from '../test-support/device-client.js';
import { startHarness, waitFor, type Harness } from '../test-support/harness.js';
import { DEFAULT_PARTITION, MOVE_LOCK_WAIT_MS, partitionName, TelemetryPartitionRepository } from './telemetry-partition.repository.js';
import { TelemetryRetentionService } from './telemetry-retention.service.js';

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

  it('row 18: windows moved out of the default partition into their new day stay visible to every read meanwhile (a read planned before the move saw neither copy)', async () => {
    const d = await enrollDevice(h, 'robotic_manipulation', 'robot-npu-arm');
    const partitions = h.cp.app.get(TelemetryPartitionRepository);
    const look = new pg.Client({ connectionString: h.dbUrl });
    await look.connect();
    const bootId = randomUUID();
    let seq = 0;
    let stored = 0;
    try {
      // three days with no partition yet, one move each: without readers kept out, a read that
      // straddles a move's commit missed every row in each (reproduced 200 of 200 times)
      for (const daysAgo of [5, 6, 7]) {
        const day = new Date(Date.now() - daysAgo * 86_400_000).toISOString().slice(0, 10);
        for (let i = 0; i < 5; i++) {
          const start = Date.parse(`${day}T12:00:00Z`) + i * 10_000;
          const w = telemetryWindow(d.deviceId, bootId, seq++, {
            windowStart: new Date(start).toISOString(),
            windowEnd: new Date(start + 10_000).toISOString(),
          });
          const bytes = Buffer.from(JSON.stringify(w));
          expect(await h.cp.ingest.accept(topics.telemetry(d.deviceId), parsePayload('telemetry', d.deviceId, bytes), bytes)).toEqual({
            ok: true,
          });
        }
        stored += 5;
        const before = await look.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${DEFAULT_PARTITION}" WHERE "deviceId" = $1`, [
          d.deviceId,
        ]);
        expect(before.rows[0]?.n, 'the windows wait in the default partition').toBe(5);
        const seen: number[] = [];
        let moving = true;
        const reads = (async () => {
          while (moving) {
            const r = await look.query<{ n: number }>(`SELECT count(*)::int AS n FROM "TelemetryWindow" WHERE "deviceId" = $1`, [
              d.deviceId,
            ]);
            seen.push(r.rows[0]?.n ?? -1);
          }
        })();
        await sleep(50);
        const moved = await partitions.createDay(day);
        await sleep(50);
        moving = false;
        await reads;
        expect(moved).toBe(5);
        expect(seen.length, 'reads ran beside the move').toBeGreaterThan(5);
        expect(
          seen.filter((n) => n !== stored),
          `reads that missed windows while ${day} was created`,
        ).toEqual([]);
      }
    } finally {
      await look.end();
    }
  });

  it('row 18: a window of the day that reaches the default partition after the move looked there fails the attach, and the day is created again with it moved in', async () => {
    const d = await enrollDevice(h, 'robotic_manipulation', 'robot-npu-arm');
    const partitions = h.cp.app.get(TelemetryPartitionRepository);
    const day = new Date(Date.now() - 8 * 86_400_000).toISOString().slice(0, 10);
    const start = Date.parse(`${day}T12:00:00Z`);
    const first = telemetryWindow(d.deviceId, randomUUID(), 0, {
      windowStart: new Date(start - 86_400_000).toISOString(),
      windowEnd: new Date(start - 86_400_000 + 10_000).toISOString(),
    });
    const bytes = Buffer.from(JSON.stringify(first));
    expect(await h.cp.ingest.accept(topics.telemetry(d.deviceId), parsePayload('telemetry', d.deviceId, bytes), bytes)).toEqual({
      ok: true,
    });
    const late = new pg.Client({ connectionString: h.dbUrl });
    const look = new pg.Client({ connectionString: h.dbUrl });
    await late.connect();
    await look.connect();
    try {
      // a copy of that window moved to the day, inserted but not committed: the move's look cannot see it
      await late.query('BEGIN');
      await late.query(
        `INSERT INTO "TelemetryWindow" SELECT (jsonb_populate_record(NULL::"TelemetryWindow", to_jsonb(w) || jsonb_build_object('id', w.id + 1000000000, 'windowStart', $2::timestamptz AT TIME ZONE 'UTC', 'windowEnd', $3::timestamptz AT TIME ZONE 'UTC'))).*
           FROM "TelemetryWindow" w WHERE w."deviceId" = $1`,
        [d.deviceId, new Date(start).toISOString(), new Date(start + 10_000).toISOString()],
      );
      const created = partitions.createDay(day);
      await waitFor(
        async () =>
          (
            await look.query(
              `SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'ALTER TABLE "TelemetryWindow" ATTACH%'`,
            )
          ).rowCount === 1,
        20_000,
        'the attach waiting on the uncommitted window',
      );
      await late.query('COMMIT');
      expect(await created).toBe(1);
      const rows = await look.query(
        `SELECT tableoid::regclass::text AS part FROM "TelemetryWindow" WHERE "deviceId" = $1 AND "windowStart" >= $2`,
        [d.deviceId, `${day}T00:00:00Z`],
      );
      expect(rows.rows).toEqual([{ part: `"${partitionName(day)}"` }]);
    } finally {
      await late.query('ROLLBACK').catch(() => undefined);
      await late.end();
      await look.end();
    }
  });

  it('row 18: a move waits for the table at most MOVE_LOCK_WAIT_MS behind a long read: the pass leaves the day for the next one, its windows read in the default partition meanwhile', async () => {
    const d = await enrollDevice(h, 'robotic_manipulation', 'robot-npu-arm');
    const retention = h.cp.app.get(TelemetryRetentionService);
    const day = new Date(Date.now() - 9 * 86_400_000).toISOString().slice(0, 10);
    const bootId = randomUUID();
    for (let i = 0; i < 2; i++) {
      const start = Date.parse(`${day}T06:00:00Z`) + i * 10_000;
      const w = telemetryWindow(d.deviceId, bootId, i, {
        windowStart: new Date(start).toISOString(),
        windowEnd: new Date(start + 10_000).toISOString(),
      });
      const bytes = Buffer.from(JSON.stringify(w));
      expect(await h.cp.ingest.accept(topics.telemetry(d.deviceId), parsePayload('telemetry', d.deviceId, bytes), bytes)).toEqual({
        ok: true,
      });
    }
    const reader = new pg.Client({ connectionString: h.dbUrl });
    await reader.connect();
    try {
      // a long read: its transaction holds the table until it ends
      await reader.query('BEGIN');
      await reader.query('SELECT count(*) FROM "TelemetryWindow"');
      const t0 = Date.now();
      const pass = await retention.run(new Date());
      const waited = Date.now() - t0;
      expect(pass.deferred).toEqual([day]);
      expect(pass.created).not.toContain(day);
      expect(waited, 'the pass gave up after about MOVE_LOCK_WAIT_MS').toBeGreaterThanOrEqual(MOVE_LOCK_WAIT_MS);
      expect(waited).toBeLessThan(MOVE_LOCK_WAIT_MS + 5_000);
      const still = await reader.query<{ part: string }>(
        `SELECT tableoid::regclass::text AS part FROM "TelemetryWindow" WHERE "deviceId" = $1`,
        [d.deviceId],
      );
      expect(still.rows.map((r) => r.part)).toEqual([`"${DEFAULT_PARTITION}"`, `"${DEFAULT_PARTITION}"`]);
      await reader.query('COMMIT');
      const next = await retention.run(new Date());
      expect(next.deferred).toEqual([]);
      expect(next.created).toContain(day);
      const moved = await reader.query<{ part: string }>(
        `SELECT tableoid::regclass::text AS part FROM "TelemetryWindow" WHERE "deviceId" = $1`,
        [d.deviceId],
      );
      expect(moved.rows.map((r) => r.part)).toEqual([`"${partitionName(day)}"`, `"${partitionName(day)}"`]);
    } finally {
      await reader.query('ROLLBACK').catch(() => undefined);
      await reader.end();
    }
  });
});
