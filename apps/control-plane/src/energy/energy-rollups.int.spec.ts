import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePayload, topics, type EnrollResponse } from '@edge-fleet/shared';
import { RolloutDeviceRepository } from '../rollouts/rollout-device.repository.js';
import { TelemetryRollupFoldService } from '../telemetry/telemetry-rollup-fold.service.js';
import { rollupSplit } from '../telemetry/rollup-span.js';
import { enrollDevice, telemetryWindow } from '../test-support/device-client.js';
import { startHarness, uploadMlp, type Harness } from '../test-support/harness.js';
import { rawBaseline, rawDeviceSums, rawVariantSums } from '../test-support/raw-reads.js';
import { EnergyRepository } from './energy.repository.js';

/**
 * The energy report and the rollout gates' baseline read whole hours from the hourly rollups and the
 * rest raw (rollup-span.ts): their sums must be those of the raw windows, whatever the period's
 * edges cut, and whatever the fold has not added yet. Windows go through the real ingest, the real
 * fold adds them, and every read is compared with the reads as they were, over every raw window
 * (test-support/raw-reads.ts).
 */
const SCENARIO = 'financial_trading';
const FOLD_LOCK = 0x7e1e_0002;
const HOUR = 3_600_000;
let h: Harness;
let db: pg.Client;
let devices: EnrollResponse[];
let rolloutId: string;
let fp32: string;
const int8 = randomUUID();
const now = Date.now();
// a period starting mid-hour, four to five hours ago: whole hours, a partial first hour, and the current one
const since = new Date(Math.floor(now / HOUR) * HOUR - 4 * HOUR + 17 * 60_000 + 23_456);
const { wholeFrom } = rollupSplit(since);
const seqs = new Map<string, number>();

type Win = { start: number; end: number; i: number };

/** Windows tiling [from, to) with lengths 60, 60, 300 and 37.5 s, and the edge cases of the period's boundaries. */
function tiles(from: number, to: number): Win[] {
  const lengths = [60_000, 60_000, 300_000, 37_500];
  const out: Win[] = [];
  for (let t = from, i = 0; t < to; i++) {
    const end = Math.min(to, t + (lengths[i % lengths.length] ?? 60_000));
    out.push({ start: t, end, i });
    t = end;
  }
  const s = since.getTime();
  const w = wholeFrom.getTime();
  // ends exactly at `since` (out), a millisecond after (in), long across `since`, at and just before the first whole hour
  const edges = [
    [s - 60_000, s],
    [s - 60_000, s + 1],
    [s - 30 * 60_000, s + 40 * 60_000],
    [s - 3 * HOUR, s - HOUR],
    [w, w + 45_000],
    [w - 1, w + 10_000],
    [w - 2 * HOUR, w + 90 * 60_000],
  ] as const;
  return [...out, ...edges.map(([start, end], k) => ({ start, end, i: out.length + k }))];
}

/** A window of device `d` (`k` its index among the devices) with figures that vary by `w.i`. */
function windowOf(d: EnrollResponse, k: number, boot: string, w: Win): Record<string, unknown> {
  const i = w.i + k * 7;
  const inferences = i % 7 === 0 ? 0 : 10 + (i % 13);
  const seq = (seqs.get(boot) ?? 0) + 1;
  seqs.set(boot, seq);
  return telemetryWindow(d.deviceId, boot, seq, {
    windowStart: new Date(w.start).toISOString(),
    windowEnd: new Date(w.end).toISOString(),
    variantId: i % 3 === 0 ? int8 : fp32,
    precision: i % 3 === 0 ? 'int8' : 'fp32',
    inferences,
    errors: inferences > 0 ? i % 3 : 0,
    latencyMs: { p50: 1 + (i % 5), p95: 2 + (i % 7), p99: 3 + (i % 11), max: 20 },
    // a window without inferences may still carry an (empty) histogram: it is not the baseline's evidence
    ...(inferences > 0 && i % 4 !== 0
      ? {
          latencyHistogram: [
            [40 + (i % 9), Math.min(inferences, 3)],
            [90, 1],
          ],
        }
      : {}),
    ...(inferences === 0 && i % 2 === 0 ? { latencyHistogram: [] } : {}),
    power: { watts: 1.5 + (i % 10) * 0.37, source: ['simulated', 'sensor', 'estimate', 'estimate', 'simulated'][i % 5], detail: 'test' },
    ...(i % 6 === 0 ? { remote: { inferences: 2, errors: 0, latencyMs: null, bytesSent: 1_000 + i, bytesReceived: 500 + i } } : {}),
  });
}

async function send(d: EnrollResponse, k: number, boot: string, ws: readonly Win[]): Promise<void> {
  for (const w of ws) {
    const bytes = Buffer.from(JSON.stringify(windowOf(d, k, boot, w)));
    const r = await h.cp.ingest.accept(topics.telemetry(d.deviceId), parsePayload('telemetry', d.deviceId, bytes), bytes);
    expect(r, `window ${new Date(w.start).toISOString()}–${new Date(w.end).toISOString()}`).toEqual({ ok: true });
  }
}

/** Deep equality, floats to a relative 1e-9: sums added in another order differ in their last bits. */
function expectClose(actual: unknown, expected: unknown, path = ''): void {
  if (typeof expected === 'number' && typeof actual === 'number') {
    expect(Math.abs(actual - expected), `${path}: ${actual} vs ${expected}`).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(expected)));
  } else if (expected !== null && typeof expected === 'object' && actual !== null && typeof actual === 'object') {
    expect(Object.keys(actual).sort(), path).toEqual(Object.keys(expected).sort());
    for (const [key, v] of Object.entries(expected)) expectClose((actual as Record<string, unknown>)[key], v, `${path}.${key}`);
  } else {
    expect(actual, path).toEqual(expected);
  }
}

async function expectReadsEqualRaw(): Promise<void> {
  const energy = h.cp.app.get(EnergyRepository);
  for (const from of [since, new Date(since.getTime() - 3 * HOUR), wholeFrom, new Date(now - 20 * 60_000)]) {
    const fleet = await energy.variantSums(from, null);
    expect(fleet.filter((r) => r.observed ?? r.simulated).length).toBeGreaterThan(0);
    expectClose(fleet, await rawVariantSums(db, from, null));
    expectClose(await energy.variantSums(from, SCENARIO), await rawVariantSums(db, from, SCENARIO));
    // a label scope: per-device rollups, cut by the devices' labels as they are now
    const scope = { scenarios: [], labels: { site: 'north' } };
    const scoped = await energy.variantSums(from, null, scope);
    expect(scoped.some((r) => r.observed !== null)).toBe(true);
    expectClose(scoped, await rawVariantSums(db, from, null, scope));
    for (const d of devices) expectClose(await energy.deviceSums(d.deviceId, from), await rawDeviceSums(db, d.deviceId, from));
    const baseline = await h.cp.app.get(RolloutDeviceRepository).baseline(rolloutId, from);
    expect(baseline.size).toBeGreaterThan(0);
    expect(baseline).toEqual(await rawBaseline(db, rolloutId, from));
  }
}

beforeAll(async () => {
  // the worker's own fold is kept out of the way (a minute apart): the test folds when it means to; windows up to a day long
  h = await startHarness({ TELEMETRY_ROLLUP_FOLD_MS: '60000', TELEMETRY_QUOTA_SLACK: '1000', TELEMETRY_MAX_WINDOW_SECONDS: '86400' });
  db = new pg.Client({ connectionString: h.dbUrl });
  await db.connect();
  const up = await uploadMlp(h, 'rollup-sums', '1.0.0', 11);
  fp32 = up.variant;
  devices = [
    await enrollDevice(h, SCENARIO, 'edge-npu-trading'),
    await enrollDevice(h, SCENARIO, 'edge-npu-trading'),
    await enrollDevice(h, 'robotic_manipulation', 'robot-npu-arm'),
  ];
  await db.query(`UPDATE "Device" SET labels = '{"site":"north"}' WHERE id = ANY($1::uuid[])`, [
    [devices[0]?.deviceId, devices[2]?.deviceId],
  ]);
  rolloutId = randomUUID();
  await db.query(
    `INSERT INTO "Rollout" (id, name, "modelVersionId", target, plan, status, "createdBy") VALUES ($1, 'baseline', $2, '{}', '{}', 'paused', 'test')`,
    [rolloutId, up.id],
  );
  await db.query(`INSERT INTO "RolloutDevice" ("rolloutId", "deviceId", wave) SELECT $1, unnest($2::uuid[]), 1`, [
    rolloutId,
    devices.map((d) => d.deviceId),
  ]);
}, 120_000);
afterAll(async () => {
  await db.end();
  await h.close();
});

describe('energy report and gate baseline from the hourly rollups (issue 15)', () => {
  it('equal the raw windows’ sums exactly: whole hours from rollups, partial edges and not-yet-folded windows raw', async () => {
    const folds = h.cp.app.get(TelemetryRollupFoldService);
    // one boot a device: late windows of another boot would read as a clone's
    const boots = devices.map(() => randomUUID());
    for (const [k, d] of devices.entries()) await send(d, k, boots[k] ?? '', tiles(since.getTime() - 2 * HOUR, now - 120_000));
    await folds.drain();
    // late windows while the fold is held up: they wait in TelemetryRollupPending
    const lock = new pg.Client({ connectionString: h.dbUrl });
    await lock.connect();
    try {
      await lock.query('SELECT pg_advisory_lock($1)', [FOLD_LOCK]);
      const s = since.getTime();
      const w = wholeFrom.getTime();
      const late: Win[] = [
        { start: s - 10 * 60_000, end: s + 5 * 60_000, i: 1 },
        { start: s - 10 * 60_000, end: s + 3 * HOUR, i: 2 },
        { start: w + 5 * 60_000, end: w + 6 * 60_000, i: 5 },
        { start: now - 60 * 60_000, end: now - 59 * 60_000, i: 6 },
        { start: s - 2 * HOUR, end: s - HOUR, i: 8 },
      ];
      for (const [k, d] of devices.entries()) await send(d, k, boots[k] ?? '', late);
      const pending = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM "TelemetryRollupPending"');
      expect(pending.rows[0]?.n).toBe(late.length * devices.length);
      await expectReadsEqualRaw();
    } finally {
      await lock.query('SELECT pg_advisory_unlock($1)', [FOLD_LOCK]);
      await lock.end();
    }
    // and once folded
    await folds.drain();
    await expectReadsEqualRaw();

    // whole hours are read from the rollups, not the raw windows: a change to one hourly rollup shows
    const energy = h.cp.app.get(EnergyRepository);
    const simJ = (rows: Awaited<ReturnType<EnergyRepository['variantSums']>>) => rows.reduce((a, r) => a + (r.simulated?.energyJ ?? 0), 0);
    const before = simJ(await energy.variantSums(since, null));
    const changed = await db.query(
      `UPDATE "TelemetryDeviceRollup" SET "energyJ" = "energyJ" + 1000, "simEnergyJ" = "simEnergyJ" + 1000
        WHERE "bucketSeconds" = 3600 AND "bucketStart" = $1 AND "simWindows" > 0 AND "variantId" <> ''`,
      [wholeFrom],
    );
    expect(changed.rowCount).toBeGreaterThan(0);
    expect(simJ(await energy.variantSums(since, null))).toBeCloseTo(before + 1000 * (changed.rowCount ?? 0), 6);
  }, 240_000);
});
