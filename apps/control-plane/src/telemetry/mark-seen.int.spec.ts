import { randomUUID } from 'node:crypto';
import { TelemetryWindowSchema } from '@edge-fleet/shared';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertBenchDevices, insertBenchProfile } from '../bench/bench-devices.js';
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

const BOOT = '00000000-0000-4000-8000-0000000000cc';

describe('telemetry ingest: devices marked seen', () => {
  it('a batch refreshes lastSeenAt, but leaves a device refreshed under a second ago unwritten (no new row version)', async () => {
    const id = randomUUID();
    await insertBenchDevices(db, [id], ['robotic_manipulation'], 1);
    const repo = h.cp.app.get(TelemetryRepository);
    const seen = async () =>
      (await db.query<{ xmin: string; at: Date | null }>('SELECT xmin::text, "lastSeenAt" AS at FROM "Device" WHERE id = $1', [id]))
        .rows[0];
    const insert = (seq: number) => repo.insertBatch([TelemetryWindowSchema.parse(telemetryWindow(id, BOOT, seq))]);

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
