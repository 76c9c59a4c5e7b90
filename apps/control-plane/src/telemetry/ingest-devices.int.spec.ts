import { randomUUID } from 'node:crypto';
import { parsePayload, TelemetryWindowSchema, topics } from '@edge-fleet/shared';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { insertBenchDevices, insertBenchProfile } from '../bench/bench-devices.js';
import { PG_POOL } from '../infra/tokens.js';
import { telemetryWindow } from '../test-support/device-client.js';
import { startHarness, type Harness } from '../test-support/harness.js';
import { TelemetryRepository } from './telemetry.repository.js';

let h: Harness;
let db: pg.Client;
beforeAll(async () => {
  h = await startHarness();
  db = new pg.Client({ connectionString: h.dbUrl });
  await db.connect();
  await insertBenchProfile(db);
});
afterAll(async () => {
  await db.end();
  await h.close();
});

const BOOT = '00000000-0000-4000-8000-0000000000bb';
const BOOT_SEEN = '00000000-0000-4000-8000-0000000000cc';

/** The queries that read devices' enrollment dates, counted on the real pool as they pass. */
function countEnrollmentLookups(): { count: () => number; restore: () => void } {
  const pool = h.cp.app.get<pg.Pool>(PG_POOL);
  const query = pool.query.bind(pool) as (...args: unknown[]) => unknown;
  let n = 0;
  const spy = vi.spyOn(pool, 'query').mockImplementation((...args: unknown[]) => {
    const first = args[0] as string | { text?: string };
    const text = typeof first === 'string' ? first : (first.text ?? '');
    if (text.includes('"enrolledAt"') && text.includes('FROM "Device"')) n += 1;
    return query(...args);
  });
  return { count: () => n, restore: () => spy.mockRestore() };
}

describe('telemetry ingest: what it reads and writes of devices', () => {
  it('the first windows of 300 new devices arriving together look up their enrollment in one query, and all commit', async () => {
    const ids = Array.from({ length: 300 }, () => randomUUID());
    await insertBenchDevices(db, ids, ['robotic_manipulation'], 1);
    // and one device that does not exist: refused as not enrolled, in the same lookup
    const unknown = randomUUID();
    const lookups = countEnrollmentLookups();
    try {
      const results = await Promise.all(
        [...ids, unknown].map((id) => {
          const bytes = Buffer.from(JSON.stringify(telemetryWindow(id, BOOT, 0)));
          const m = parsePayload('telemetry', id, bytes);
          return h.cp.ingest.accept(topics.telemetry(id), m, bytes);
        }),
      );
      expect(results.slice(0, 300).every((r) => r.ok)).toBe(true);
      expect(results[300]).toEqual({ ok: false, reason: 'the device is not enrolled' });
      expect(lookups.count()).toBe(1);
    } finally {
      lookups.restore();
    }
    const stored = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM "TelemetryWindow" WHERE "deviceId" = ANY($1::uuid[])', [
      ids,
    ]);
    expect(stored.rows[0]?.n).toBe(300);
  });

  it('a batch refreshes lastSeenAt, but leaves a device refreshed under a second ago unwritten (no new row version)', async () => {
    const id = randomUUID();
    await insertBenchDevices(db, [id], ['robotic_manipulation'], 1);
    const repo = h.cp.app.get(TelemetryRepository);
    const seen = async () =>
      (await db.query<{ xmin: string; at: Date | null }>('SELECT xmin::text, "lastSeenAt" AS at FROM "Device" WHERE id = $1', [id]))
        .rows[0];
    const insert = (seq: number) => repo.insertBatch([TelemetryWindowSchema.parse(telemetryWindow(id, BOOT_SEEN, seq))]);

    await insert(0);
    const first = await seen();
    expect(first?.at).not.toBeNull();
    await insert(1);
    // the same row version: not rewritten
    expect(await seen()).toEqual(first);
    await new Promise((r) => setTimeout(r, 1_100));
    await insert(2);
    const later = await seen();
    expect(later?.xmin).not.toBe(first?.xmin);
    expect(later?.at?.getTime()).toBeGreaterThan(first?.at?.getTime() ?? Infinity);
  });
});
