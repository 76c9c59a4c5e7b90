import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { AlertEvaluationRepository, OBSERVE_SQL, observeParams } from '../alerts/alert-evaluation.repository.js';
import { AssignmentRepository } from '../assignments/assignment.repository.js';
import { ENERGY_SQL, EnergyRepository } from '../energy/energy.repository.js';
import { txQuery } from '../infra/unit-of-work.js';
import { RolloutDeviceRepository } from '../rollouts/rollout-device.repository.js';
import { enrollDevice } from '../test-support/device-client.js';
import { jsonPost, startHarness, type Harness } from '../test-support/harness.js';
import { partitionName, TelemetryPartitionRepository } from './telemetry-partition.repository.js';
import { rollupSplit } from './rollup-span.js';
import { TelemetryRollupFoldService } from './telemetry-rollup-fold.service.js';
import { TAKE_PENDING_SQL } from './telemetry-rollup.repository.js';
import { TelemetryRepository } from './telemetry.repository.js';
import { WINDOW_SPAN_MAX_MS } from './window-span.js';

const DAY = 86_400_000;
const FOLD_LOCK = 0x7e1e_0002;
const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);

let h: Harness;
let db: pg.Client;
const now = new Date();
/** A day partition far outside every read's range (six days back): the retention job's kind of target. */
const OLD_DAY = dayOf(now.getTime() - 6 * DAY);
/** A day partition created ahead (the retention job keeps PARTITION_DAYS_AHEAD of them) that no stored window can reach yet. */
const AHEAD_DAY = dayOf(now.getTime() + 5 * DAY);

/** Stores one window (SQL, as the ingest stores it) and leaves it pending for the fold. */
async function storeWindow(deviceId: string, start: number, end: number, over: { inferences?: number; errors?: number } = {}) {
  const r = await db.query<{ id: string }>(
    `INSERT INTO "TelemetryWindow" ("deviceId", "bootId", seq, "windowStart", "windowEnd", "variantId", "modelVersionId", precision,
       inferences, errors, "latencyP50Ms", "latencyP95Ms", "latencyP99Ms", "latencyMaxMs", "powerW", "powerSource", "powerDetail",
       "rssMb", "heapUsedMb", source)
     VALUES ($1, $1, $2, $3, $4, 'v-bounded', 'mv-bounded', 'fp32', $5, $6, 2, 3, 4, 5, 3, 'sensor', 'test', 60, 20, 'probe')
     RETURNING id`,
    [deviceId, start, new Date(start), new Date(end), over.inferences ?? 100, over.errors ?? 0],
  );
  await db.query(`INSERT INTO "TelemetryRollupPending" ("windowId", "windowStart") VALUES ($1, $2)`, [r.rows[0]?.id, new Date(start)]);
}

/**
 * Runs `read` while another session holds an ACCESS EXCLUSIVE lock on `day`'s partition (OLD_DAY: as
 * the retention job's DROP does): 'done' when the read never needed that partition, 'blocked' as
 * soon as it waits for the lock (seen in pg_locks, no timing involved).
 */
async function besideLockedDay(read: () => Promise<unknown>, day = OLD_DAY): Promise<'done' | 'blocked'> {
  const locker = new pg.Client({ connectionString: h.dbUrl });
  await locker.connect();
  try {
    await locker.query('BEGIN');
    await locker.query(`LOCK TABLE "${partitionName(day)}" IN ACCESS EXCLUSIVE MODE`);
    let settled = false;
    const running = read().finally(() => (settled = true));
    for (;;) {
      if (settled) {
        await running;
        return 'done';
      }
      const waiting = await db.query(
        `SELECT 1 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE NOT l.granted AND c.relname = $1`,
        [partitionName(day)],
      );
      if (waiting.rowCount) {
        await locker.query('ROLLBACK');
        await running;
        return 'blocked';
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  } finally {
    await locker.query('ROLLBACK').catch(() => undefined);
    await locker.end();
  }
}

let active: string;
let quiet: string;
let longWindow: string;
beforeAll(async () => {
  // no scheduled alert pass: the test drives the evaluation
  h = await startHarness({ ALERT_EVAL_INTERVAL_MS: '0', TELEMETRY_MAX_WINDOW_SECONDS: '86400' });
  db = new pg.Client({ connectionString: h.dbUrl });
  await db.connect();
  const partitions = h.cp.app.get(TelemetryPartitionRepository);
  for (let d = 12; d >= -7; d--) await partitions.createDay(dayOf(now.getTime() - d * DAY));
  const enroll = async () => (await enrollDevice(h, 'robotic_manipulation', 'robot-npu-arm')).deviceId;
  [active, quiet, longWindow] = [await enroll(), await enroll(), await enroll()];
  const t = now.getTime();
  // active: windows of the last minutes, and one 8 days old
  await storeWindow(active, t - 8 * DAY, t - 8 * DAY + 5_000);
  for (let i = 1; i <= 6; i++) await storeWindow(active, t - i * 10_000 - 5_000, t - i * 10_000, { errors: i });
  // quiet: its last window five days ago (and one before it)
  await storeWindow(quiet, t - 9 * DAY, t - 9 * DAY + 5_000);
  await storeWindow(quiet, t - 5 * DAY, t - 5 * DAY + 5_000);
  // a window of nearly a day (TELEMETRY_MAX_WINDOW_SECONDS allows one) that ended 10 s ago
  await storeWindow(longWindow, t - 10_000 - 86_000_000, t - 10_000, { inferences: 1_000, errors: 250 });
  await db.query(`UPDATE "Device" SET status = 'online' WHERE id = ANY($1::uuid[])`, [[active, quiet, longWindow]]);
  await h.cp.app.get(TelemetryRollupFoldService).drain();
}, 120_000);

afterAll(async () => {
  await db.end();
  await h.close();
});

describe('bounded telemetry reads: each names the day partitions it needs (issue 15)', () => {
  it("the fleet list's latest window per device: an active device's is read from the recent partitions alone; a device silent for days still gets its last window", async () => {
    const repo = h.cp.app.get(TelemetryRepository);
    expect(await besideLockedDay(() => repo.latestFor([active, longWindow], now))).toBe('done');
    expect(await besideLockedDay(() => repo.latestFor([active, longWindow], now), AHEAD_DAY)).toBe('done');
    const latest = await repo.latestFor([active, quiet, longWindow], now);
    expect(latest.get(active)?.windowEnd).toBe(new Date(now.getTime() - 10_000).toISOString());
    expect(latest.get(longWindow)?.windowEnd).toBe(new Date(now.getTime() - 10_000).toISOString());
    // nothing in the recent partitions: looked up again over all of them
    expect(latest.get(quiet)?.windowEnd).toBe(new Date(now.getTime() - 5 * DAY + 5_000).toISOString());
  }, 60_000);

  it("a device's raw range (up to an hour) reads only the partitions its start reaches, and none of those created ahead", async () => {
    const repo = h.cp.app.get(TelemetryRepository);
    expect(await besideLockedDay(() => repo.range(active, new Date(now.getTime() - 3_600_000), 100))).toBe('done');
    expect(await besideLockedDay(() => repo.range(active, new Date(now.getTime() - 3_600_000), 100), AHEAD_DAY)).toBe('done');
    expect((await repo.range(active, new Date(now.getTime() - 3_600_000), 100))?.length).toBe(6);
  }, 60_000);

  it('the alert pass reads the last two days of windows, yet a window of nearly a day that ended in the lookback counts, and a device silent for five days measures five days', async () => {
    for (const rule of [
      { name: 'bounded-errors', metric: 'error_rate', threshold: 0.01, forSeconds: 0, lookbackSeconds: 60 },
      { name: 'bounded-silent', metric: 'telemetry_silent_s', threshold: 30, forSeconds: 0, lookbackSeconds: 60 },
    ])
      expect((await jsonPost(h, '/api/v1/alert-rules', rule)).status).toBe(201);
    const evaluation = h.cp.app.get(AlertEvaluationRepository);
    const observe = () => evaluation.exclusive((tx) => evaluation.observe(tx, now));
    expect(await besideLockedDay(observe)).toBe('done');
    expect(await besideLockedDay(observe, AHEAD_DAY)).toBe('done');
    const rows = (await observe()) ?? [];
    const value = (metric: string, subject: string) => rows.find((r) => r.metric === metric && r.subject === subject)?.value;
    // the windows that ended in the last 60 s: active's 10 s, 20 s, … 60 s ago ones but the 60 s one (not after now - 60 s)
    expect(value('error_rate', active)).toBeCloseTo((1 + 2 + 3 + 4 + 5) / 500, 9);
    expect(value('error_rate', longWindow)).toBeCloseTo(0.25, 9);
    expect(value('telemetry_silent_s', quiet)).toBeCloseTo((5 * DAY - 5_000) / 1_000, 3);
    expect(value('telemetry_silent_s', active)).toBeUndefined(); // 10 s: no breach, no open alert
  }, 60_000);

  it('the energy report (fleet and device) reads only the partitions its period reaches', async () => {
    const energy = h.cp.app.get(EnergyRepository);
    const since = new Date(now.getTime() - DAY);
    expect(await besideLockedDay(() => energy.variantSums(since, null))).toBe('done');
    expect(await besideLockedDay(() => energy.deviceSums(active, since))).toBe('done');
    expect(await besideLockedDay(() => energy.variantSums(since, null), AHEAD_DAY)).toBe('done');
    expect(await besideLockedDay(() => energy.deviceSums(active, since), AHEAD_DAY)).toBe('done');
    const device = await energy.deviceSums(active, since);
    expect(device.map((r) => r.sums.windows)).toEqual([6]);
    const fleet = await energy.variantSums(since, null);
    // the near-day window ended within the period: it counts
    expect(fleet.find((r) => r.variantId === 'v-bounded')?.observed?.windows).toBe(7);
  }, 60_000);

  it("a rollout gate's evidence and baseline, and the assignment's fleet latency, read only the partitions their periods reach", async () => {
    const members = h.cp.app.get(RolloutDeviceRepository);
    expect(await besideLockedDay(() => members.baseline(randomUUID(), new Date(now.getTime() - 3_600_000)))).toBe('done');
    expect(await besideLockedDay(() => members.evidence(randomUUID(), 0))).toBe('done');
    expect(await besideLockedDay(() => members.baseline(randomUUID(), new Date(now.getTime() - 3_600_000)), AHEAD_DAY)).toBe('done');
    expect(await besideLockedDay(() => members.evidence(randomUUID(), 0), AHEAD_DAY)).toBe('done');
    const assignments = h.cp.app.get(AssignmentRepository);
    expect(await besideLockedDay(() => assignments.fleetLatency(['v-bounded']))).toBe('done');
    expect(await besideLockedDay(() => assignments.fleetLatency(['v-bounded']), AHEAD_DAY)).toBe('done');
    const fleet = await assignments.fleetLatency(['v-bounded']);
    // the windows that ended in the last day: active's six and the near-day one
    expect(Object.values(fleet.get('v-bounded') ?? {}).reduce((s, c) => s + c.windows, 0)).toBe(7);
  }, 60_000);

  it("the fold finds its windows in the partitions of their starts alone: it never waits for the retention job's drop of an old day", async () => {
    const folds = h.cp.app.get(TelemetryRollupFoldService);
    await storeWindow(active, now.getTime() - 4_000, now.getTime() - 1_000);
    expect(await besideLockedDay(() => folds.drain())).toBe('done');
    const [row] = (
      await db.query<{ windows: number }>(
        `SELECT sum(windows)::int AS windows FROM "TelemetryDeviceRollup" WHERE "deviceId" = $1 AND "bucketSeconds" = 3600`,
        [active],
      )
    ).rows;
    expect(row?.windows).toBe(8);
  }, 60_000);

  it('the fold claims its batch through the pending index, not a scan of the whole backlog', async () => {
    const lock = new pg.Client({ connectionString: h.dbUrl });
    await lock.connect();
    try {
      // a backlog of 50,000 (ids of no stored window), the scheduled fold kept out while the plan is read
      await lock.query('SELECT pg_advisory_lock($1)', [FOLD_LOCK]);
      await db.query(
        `INSERT INTO "TelemetryRollupPending" ("windowId", "windowStart") SELECT 1e12 + g, now() FROM generate_series(1, 50000) g`,
      );
      await db.query('ANALYZE "TelemetryRollupPending"');
      await db.query('BEGIN');
      const plan = (await db.query<{ 'QUERY PLAN': unknown }>(`EXPLAIN (FORMAT JSON) ${TAKE_PENDING_SQL}`, [5_000])).rows[0]?.[
        'QUERY PLAN'
      ];
      await db.query('ROLLBACK');
      const scans: string[] = [];
      const walk = (n: Record<string, unknown>) => {
        if (n['Relation Name'] === 'TelemetryRollupPending') scans.push(String(n['Node Type']));
        for (const c of (n.Plans as Record<string, unknown>[] | undefined) ?? []) walk(c);
      };
      walk((plan as { Plan: Record<string, unknown> }[])[0]?.Plan ?? {});
      expect(scans.length).toBeGreaterThan(0);
      expect(scans.filter((t) => t === 'Seq Scan')).toEqual([]);
    } finally {
      await db.query(`DELETE FROM "TelemetryRollupPending" WHERE "windowId" > 1e12`);
      await lock.query('SELECT pg_advisory_unlock($1)', [FOLD_LOCK]);
      await lock.end();
    }
  }, 60_000);

  it('bounded and unbounded give the same answers: alert pass and energy report over windows of every span up to a day, ending across three days', async () => {
    // a seeded spread: windows spanning 0 s to a whole day, ending anywhere in the last three days
    let seed = 7;
    const rand = () => (seed = (seed * 48_271) % 2_147_483_647) / 2_147_483_647;
    const devices: string[] = [];
    for (let d = 0; d < 4; d++) devices.push((await enrollDevice(h, 'robotic_manipulation', 'robot-npu-arm')).deviceId);
    for (const id of devices)
      for (let i = 0; i < 40; i++) {
        const end = now.getTime() - Math.floor(rand() * 3 * DAY);
        const span = i % 2 === 0 ? DAY - Math.floor(rand() * 600_000) : Math.floor(rand() * DAY);
        await storeWindow(id, end - span, end, { inferences: 1 + Math.floor(rand() * 1_000), errors: Math.floor(rand() * 3) });
      }
    await db.query(`UPDATE "Device" SET status = 'online' WHERE id = ANY($1::uuid[])`, [devices]);
    await h.cp.app.get(TelemetryRollupFoldService).drain();
    for (const [metric, threshold, lookbackSeconds] of [
      ['error_rate', 1e-9, 60],
      ['error_rate', 1e-9, 3_600],
      ['error_rate', 1e-9, 86_400],
      ['power_w', 0.001, 7_200],
      ['throughput_ips', 1e9, 43_200],
      ['telemetry_silent_s', 1, 60],
    ] as const) {
      const res = await jsonPost(h, '/api/v1/alert-rules', {
        name: `eq-${metric}-${lookbackSeconds}`,
        metric,
        threshold,
        forSeconds: 0,
        lookbackSeconds,
      });
      expect(res.status, await res.text()).toBe(201);
    }

    // the statements as they were, unbounded (the bounds' parameters kept, unused)
    const cut = (sql: string, from: string, to: string) => {
      expect(sql).toContain(from);
      return sql.replace(from, to);
    };
    let unboundedObserve = cut(
      OBSERVE_SQL,
      `AND w."windowStart" > $2::timestamptz AND w."windowStart" > $1::timestamptz - make_interval(secs => r."lookbackSeconds" + ${WINDOW_SPAN_MAX_MS / 1_000})`,
      `AND $2::timestamptz IS NOT NULL`,
    );
    unboundedObserve = cut(unboundedObserve, `AND w."windowStart" < $5::timestamptz`, `AND $5::timestamptz IS NOT NULL`);
    unboundedObserve = cut(
      unboundedObserve,
      OBSERVE_SQL.slice(OBSERVE_SQL.indexOf('(SELECT m FROM'), OBSERVE_SQL.indexOf(`d."enrolledAt" AT TIME ZONE 'UTC'))`)),
      `(SELECT max(t."windowEnd") FROM "TelemetryWindow" t WHERE t."deviceId" = d.id AND $3::timestamptz IS NOT NULL AND $4::timestamptz IS NOT NULL), `,
    );
    const evaluation = h.cp.app.get(AlertEvaluationRepository);
    const observed = async (sql: string) =>
      (
        (await evaluation.exclusive((tx) =>
          txQuery<{ ruleId: string; subject: string; value: number | null; windows: number }>(tx, sql, observeParams(now)),
        )) ?? []
      )
        .filter((r) => devices.includes(r.subject))
        .map((r) => `${r.ruleId} ${r.subject} ${r.windows} ${r.value === null ? 'null' : r.value.toPrecision(9)}`)
        .sort();
    const bounded = await observed(OBSERVE_SQL);
    expect(bounded.length).toBeGreaterThan(devices.length * 3);
    expect(bounded).toEqual(await observed(unboundedObserve));

    // every raw part of the statement (edge windows, windows not folded yet) unbounded
    expect(ENERGY_SQL.split(`AND t."windowStart" > $3`).length).toBe(3);
    const unboundedEnergy = cut(
      ENERGY_SQL.replaceAll(`AND t."windowStart" > $3`, `AND $3::timestamptz IS NOT NULL`),
      `AND p."windowStart" < $6 AND t."windowStart" < $6`,
      `AND $6::timestamptz IS NOT NULL`,
    );
    for (const hours of [1, 6, 24, 48]) {
      const split = rollupSplit(new Date(now.getTime() - hours * 3_600_000));
      const params = [split.since, 'robotic_manipulation', split.startedAfter, split.wholeFrom, split.edgeFrom, split.startedBefore];
      const sums = async (sql: string) =>
        (await db.query<{ variantId: string; observed: unknown }>(sql, params)).rows
          .map((r) => JSON.stringify([r.variantId, r.observed]))
          .sort();
      expect(await sums(ENERGY_SQL)).toEqual(await sums(unboundedEnergy));
    }
  }, 120_000);
});
