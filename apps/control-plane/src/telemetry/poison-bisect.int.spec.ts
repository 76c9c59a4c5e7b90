import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePayload, topics, type EnrollResponse } from '@edge-fleet/shared';
import pg from 'pg';
import { enrollDevice, telemetryWindow } from '../test-support/device-client.js';
import { startHarness, type Harness } from '../test-support/harness.js';

let h: Harness;
let db: pg.Client;
beforeAll(async () => {
  // no timed flush: the 1,000th window starts it, so all of them are one batch
  h = await startHarness({ TELEMETRY_FLUSH_MS: '10000' });
  db = new pg.Client({ connectionString: h.dbUrl });
  await db.connect();
  await db.query(`ALTER TABLE "TelemetryWindow" ADD CONSTRAINT test_poison CHECK ("powerDetail" <> 'poison-by-constraint')`);
});
afterAll(async () => {
  await db.end();
  await h.close();
});

describe('bisection of a poisoned batch', () => {
  it('issue 10 item 1: ten poison windows of one device among 1,000 interleaved windows of 50 devices are isolated in few inserts', async () => {
    const devices: EnrollResponse[] = await Promise.all(Array.from({ length: 50 }, () => enrollDevice(h, 'financial_trading')));
    const boot = randomUUID();
    const poisoner = devices[7]?.deviceId;
    const before = { ...h.cp.ingest.stats };
    // arrival order interleaves the devices, so the poisoner's windows are 50 apart in the batch
    const results = await Promise.all(
      Array.from({ length: 1_000 }, (_, i) => {
        const d = devices[i % 50];
        if (!d) throw new Error('no device');
        const seq = Math.floor(i / 50);
        const poison = d.deviceId === poisoner && seq < 10;
        const w = telemetryWindow(
          d.deviceId,
          boot,
          seq,
          poison ? { power: { watts: 1, source: 'sensor', detail: 'poison-by-constraint' } } : {},
        );
        const bytes = Buffer.from(JSON.stringify(w));
        return h.cp.ingest.accept(topics.telemetry(d.deviceId), parsePayload('telemetry', d.deviceId, bytes), bytes);
      }),
    );
    expect(results.filter((r) => r.ok)).toHaveLength(990);
    expect(h.cp.ingest.stats.poison - before.poison).toBe(10);
    // ordered by device the ten are one run: 43 inserts; in arrival order they would take 133
    expect(h.cp.ingest.stats.splitInserts - before.splitInserts).toBeLessThanOrEqual(50);
  }, 60_000);
});
