import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topics } from '@edge-fleet/shared';
import pg from 'pg';
import { connectDevice, enrollDevice, telemetryWindow } from '../test-support/device-client.js';
import { startHarness, waitFor, type Harness } from '../test-support/harness.js';

let h: Harness;
let db: pg.Client;
beforeAll(async () => {
  h = await startHarness();
  db = new pg.Client({ connectionString: h.dbUrl });
  await db.connect();
});
afterAll(async () => {
  await db.end();
  await h.close();
});

const BOOT = '00000000-0000-4000-8000-0000000000aa';
function window(deviceId: string, seq: number, over: Record<string, unknown> = {}) {
  return telemetryWindow(deviceId, BOOT, seq, {
    inferences: 100,
    errors: 1,
    latencyMs: { p50: 1.5, p95: 2.5, p99: 3.5, max: 9 },
    power: { watts: 3.1, source: 'estimate', detail: 'test' },
    ...over,
  });
}
const count = async (sql: string, args: unknown[]) => ((await db.query(sql, args)).rows[0] as { n: number }).n;

describe('telemetry ingest', () => {
  it('stores each window once even when it is delivered again, in batches', async () => {
    const e = await enrollDevice(h, 'autonomous_driving', 'edge-dsa-vehicle');
    const c = await connectDevice(h, e);
    for (let seq = 0; seq < 200; seq++) c.publish(topics.telemetry(e.deviceId), JSON.stringify(window(e.deviceId, seq)), { qos: 1 });
    for (let seq = 0; seq < 50; seq++) c.publish(topics.telemetry(e.deviceId), JSON.stringify(window(e.deviceId, seq)), { qos: 1 });
    await waitFor(() => Promise.resolve(h.cp.ingest.stats.accepted >= 250), 20_000, 'all accepted');
    await h.cp.ingest.flush();
    expect(await count('SELECT count(*)::int AS n FROM "TelemetryWindow" WHERE "deviceId" = $1', [e.deviceId])).toBe(200);
    const pts = (await (await h.api(`/api/v1/devices/${e.deviceId}/telemetry?limit=5`)).json()) as {
      points: { p99: number; errorRate: number; powerSource: string }[];
    };
    expect(pts.points).toHaveLength(5);
    expect(pts.points[0]).toMatchObject({ p99: 3.5, errorRate: 0.01, powerSource: 'estimate' });
    const seen = (await (await h.api(`/api/v1/devices/${e.deviceId}`)).json()) as { lastSeenAt: string | null };
    expect(Date.now() - Date.parse(seen.lastSeenAt ?? '1970-01-01')).toBeLessThan(60_000);
    await c.endAsync();
  });

  it('issue 18: stores whose work each window describes (traffic | probe), its queue wait and cache hits, and reads them back', async () => {
    const e = await enrollDevice(h, 'autonomous_driving', 'edge-dsa-vehicle');
    const c = await connectDevice(h, e);
    const traffic = window(e.deviceId, 0, { source: 'traffic', queueMs: { p50: 0.25, p95: 0.5, p99: 0.75, max: 2 }, cacheHits: 40 });
    const probe = window(e.deviceId, 1, { source: 'probe' });
    // an agent that predates the field sent only probe windows
    const legacy = window(e.deviceId, 2);
    for (const w of [traffic, probe, legacy]) await c.publishAsync(topics.telemetry(e.deviceId), JSON.stringify(w), { qos: 1 });
    await waitFor(
      async () => {
        await h.cp.ingest.flush();
        return (await count('SELECT count(*)::int AS n FROM "TelemetryWindow" WHERE "deviceId" = $1', [e.deviceId])) === 3;
      },
      10_000,
      'three windows',
    );
    const stored = await db.query(
      'SELECT seq::int, source, "queueP95Ms", "queueMaxMs" FROM "TelemetryWindow" WHERE "deviceId" = $1 ORDER BY seq',
      [e.deviceId],
    );
    expect(stored.rows).toEqual([
      { seq: 0, source: 'traffic', queueP95Ms: 0.5, queueMaxMs: 2 },
      { seq: 1, source: 'probe', queueP95Ms: null, queueMaxMs: null },
      { seq: 2, source: 'probe', queueP95Ms: null, queueMaxMs: null },
    ]);
    const pts = (await (await h.api(`/api/v1/devices/${e.deviceId}/telemetry`)).json()) as { points: Record<string, unknown>[] };
    // oldest first: seq 2, 1, 0
    expect(pts.points.map((p) => [p.source, p.queueP50, p.queueP99, p.cacheHits])).toEqual([
      ['probe', null, null, 0],
      ['probe', null, null, 0],
      ['traffic', 0.25, 0.75, 40],
    ]);
    await c.endAsync();
  });

  it("issue 17: stores each window's latency histogram as sent, and refuses a hostile one with the reason", async () => {
    const e = await enrollDevice(h, 'autonomous_driving', 'edge-dsa-vehicle');
    const c = await connectDevice(h, e);
    const histogram = [
      [70, 60],
      [140, 39],
      [400, 1],
    ];
    const bad = [
      window(e.deviceId, 1, { latencyHistogram: [[70, 200]] }), // counts more than the window's 100 inferences
      window(e.deviceId, 2, {
        latencyHistogram: [
          [70, 1],
          [60, 1],
        ],
      }), // not in order
      window(e.deviceId, 3, { latencyHistogram: [[99_999, 1]] }), // no such bucket
    ];
    for (const w of [window(e.deviceId, 0, { latencyHistogram: histogram }), ...bad, window(e.deviceId, 4)])
      await c.publishAsync(topics.telemetry(e.deviceId), JSON.stringify(w), { qos: 1 });
    await waitFor(
      async () => {
        await h.cp.ingest.flush();
        return (
          (await count('SELECT count(*)::int AS n FROM "TelemetryWindow" WHERE "deviceId" = $1', [e.deviceId])) === 2 &&
          (await count('SELECT count(*)::int AS n FROM "RejectedMessage" WHERE "deviceId" = $1', [e.deviceId])) === 3
        );
      },
      10_000,
      'two windows and three rejections',
    );
    const stored = await db.query('SELECT seq::int, "latencyHistogram" FROM "TelemetryWindow" WHERE "deviceId" = $1 ORDER BY seq', [
      e.deviceId,
    ]);
    // an agent that predates histograms: NULL, its p50/p95/p99 all there is
    expect(stored.rows).toEqual([
      { seq: 0, latencyHistogram: histogram },
      { seq: 4, latencyHistogram: null },
    ]);
    const reasons = (await db.query('SELECT reason FROM "RejectedMessage" WHERE "deviceId" = $1', [e.deviceId])).rows.map(
      (r: { reason: string }) => r.reason,
    );
    expect(reasons.filter((r) => r.includes('latencyHistogram'))).toHaveLength(3);
    await c.endAsync();
  });

  it('rejects malformed windows with a reason, keeps them for inspection, and goes on', async () => {
    const e = await enrollDevice(h, 'autonomous_driving', 'edge-dsa-vehicle');
    const c = await connectDevice(h, e);
    const bad = [
      '{not json',
      JSON.stringify(window(e.deviceId, 1, { inferences: -5 })),
      JSON.stringify(window(e.deviceId, 2, { windowEnd: new Date(Date.now() + 86_400_000).toISOString() })),
      JSON.stringify(window(e.deviceId, 3, { latencyMs: { p50: 'NaN', p95: 1, p99: 1, max: 1 } })),
      JSON.stringify({ ...window(e.deviceId, 4), deviceId: '00000000-0000-4000-8000-000000000999' }),
    ];
    for (const p of bad) await c.publishAsync(topics.telemetry(e.deviceId), p, { qos: 1 });
    await c.publishAsync(topics.telemetry(e.deviceId), JSON.stringify(window(e.deviceId, 5)), { qos: 1 });
    await waitFor(
      async () => (await count('SELECT count(*)::int AS n FROM "RejectedMessage" WHERE "deviceId" = $1', [e.deviceId])) === 5,
      10_000,
      'rejections',
    );
    await h.cp.ingest.flush();
    await waitFor(
      async () => (await count('SELECT count(*)::int AS n FROM "TelemetryWindow" WHERE "deviceId" = $1', [e.deviceId])) === 1,
      10_000,
      'good row',
    );
    const reasons = (await db.query('SELECT reason FROM "RejectedMessage" WHERE "deviceId" = $1 ORDER BY id', [e.deviceId])).rows.map(
      (r: { reason: string }) => r.reason,
    );
    // rejections are written concurrently, so their order is not fixed
    for (const pattern of [/not valid JSON/, /inferences/, /future/, /latencyMs\.p50/, /does not match the topic/]) {
      expect(reasons.filter((r) => pattern.test(r))).toHaveLength(1);
    }
    await c.endAsync();
  });
});
