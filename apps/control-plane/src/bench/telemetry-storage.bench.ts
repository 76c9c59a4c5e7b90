/**
 * `pnpm bench:telemetry-storage [devices] [days] [seconds] [fleet]`: telemetry storage at fleet scale (issue
 * 15, M12). On a dedicated database (dropped at the end): N devices over the six scenarios, each with
 * D days of 1-minute windows (inserted with SQL, a day partition at a time, with a small latency
 * histogram each) and their rollups (one SQL aggregate of the loaded history, as the migration
 * computes them for existing rows; from then on the fold keeps them). Then, in the same run:
 * - the reads: the device page's 24 h chart and the scenario overview, raw (the windows, as before
 *   this change) and from the rollups, each a few times alone; then through the real API (REST
 *   `GET /api/v1/devices/:id/telemetry?sinceMinutes=1440`, tRPC `fleet.overview`) at 32 keep-alive
 *   connections for `seconds` each: p50/p99 and req/s;
 * - the insert rate of the ingest's repository (batches of 1,000 windows, one a device) with the
 *   rollups kept in the insert's transaction (before), with the windows left pending and the fold's
 *   rate apart (after), and with no rollups at all, in turn;
 * - disk per million windows (the partitions, indexes included) and the rollups' size.
 * The control plane runs in this process, the load generator in another (wrk when installed, else
 * Node's http client in a child: closed-loop-load.ts).
 */
import { randomUUID } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { ScenarioSchema } from '@edge-fleet/shared';
import pg from 'pg';
import { DeviceRepository } from '../devices/device.repository.js';
import { FleetService } from '../fleet/fleet.service.js';
import { freshDatabase, startHarness } from '../test-support/harness.js';
import { figuresOf, type StoredStats } from '../telemetry/telemetry-rollup.js';
import { TelemetryPartitionRepository } from '../telemetry/telemetry-partition.repository.js';
import { TelemetryRollupFoldService } from '../telemetry/telemetry-rollup-fold.service.js';
import { PENDING_WINDOWS_SQL, TAKE_PENDING_SQL, TelemetryRollupRepository, takePending } from '../telemetry/telemetry-rollup.repository.js';
import { TelemetryRepository } from '../telemetry/telemetry.repository.js';
import { benchWindowBatches, insertBenchDevices, insertBenchProfile, rollupBackfillStatements } from './bench-devices.js';
import { closedLoopLoad } from './closed-loop-load.js';

const n = Number(process.argv[2] ?? 2_000);
const days = Number(process.argv[3] ?? 3);
const seconds = Number(process.argv[4] ?? 10);
const fleetSize = Number(process.argv[5] ?? 0);
const CONNECTIONS = 32;
const DAY = 86_400_000;

/**
 * The fold's claim as it was before (a join the planner hashed, scanning the whole pending table,
 * and a LATERAL probe per window pruned at run time), kept here only to time it beside the current
 * one in the same run.
 */
const CLAIM_BEFORE_SQL = `WITH taken AS (
  DELETE FROM "TelemetryRollupPending"
   WHERE "windowId" IN (SELECT "windowId" FROM "TelemetryRollupPending" ORDER BY "windowId" LIMIT $1)
  RETURNING "windowId", "windowStart"
)
SELECT w.* FROM taken t LEFT JOIN LATERAL (
  SELECT w."deviceId", w."windowStart", w."windowEnd", w."modelVersionId", w."variantId", w."precision", w."inferences", w."errors",
         w."cacheHits", w."fallbacks", w."source", w."latencyP50Ms", w."latencyP95Ms", w."latencyP99Ms", w."latencyMaxMs",
         w."latencyHistogram", w."queueP99Ms", w."powerW", w."powerSource", w."powerDetail", w."rssMb", d."scenario", hp."hardwareClass"
    FROM "TelemetryWindow" w
    LEFT JOIN "Device" d ON d.id = w."deviceId" LEFT JOIN "HardwareProfile" hp ON hp.id = d."hardwareProfileId"
   WHERE w.id = t."windowId" AND w."windowStart" = t."windowStart"
) w ON true`;
const FOLD_LOCK = 0x7e1e_0002;
/** The overview's rollup read before issue 15's read work: every group rollup row of the period (merged in the control plane). */
const OVERVIEW_BEFORE_SQL = `SELECT "scenario", "windows", "inferences"::float8 AS inferences, "errors"::float8 AS errors, "latencyHistogram",
  "approxInferences"::float8 AS "approxInferences", "approxP50Sum", "approxP95Sum", "approxP99Sum", "latencyMaxMs", "powerSumW", "energyJ"
  FROM "TelemetryGroupRollup" WHERE "bucketSeconds" = 3600 AND "bucketStart" >= $1`;
const CLAIM_BACKLOG = 100_000;

const fmt = (x: number, d = 1) => x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))] ?? NaN;
const log = (s: string) => process.stdout.write(`${s}\n`);

async function timed<T>(f: () => Promise<T>): Promise<[T, number]> {
  const t = performance.now();
  const r = await f();
  return [r, performance.now() - t];
}

const db = await freshDatabase('ef_bench_storage');
const c = new pg.Client({ connectionString: db.url });
const pool = new pg.Pool({ connectionString: db.url, max: 4 });
try {
  await c.connect();
  log(
    `machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), load average ${loadavg()
      .map((x) => fmt(x, 2))
      .join(' ')} at start`,
  );
  await insertBenchProfile(c);
  const ids = Array.from({ length: n }, () => randomUUID());
  await insertBenchDevices(c, ids, ScenarioSchema.options, Math.ceil(24 * (days + 1)));
  // devices that send nothing in the period (idle, retired): the overview still counts them
  const idle = Math.max(0, fleetSize - n);
  await insertBenchDevices(
    c,
    Array.from({ length: idle }, () => randomUUID()),
    ScenarioSchema.options,
    Math.ceil(24 * (days + 1)),
  );

  // history: D days of 1-minute windows per device, a day partition at a time
  const partitions = new TelemetryPartitionRepository(pool);
  const now = Date.now();
  const first = Math.floor((now - days * DAY) / 60_000) * 60_000;
  const minutes = Math.floor((now - 60_000 - first) / 60_000);
  const [, loadMs] = await timed(async () => {
    for (let d = 0; d * 1_440 < minutes; d++) {
      const from = first + d * 1_440 * 60_000;
      const count = Math.min(1_440, minutes - d * 1_440);
      for (const day of new Set([new Date(from).toISOString().slice(0, 10), new Date(from + count * 60_000).toISOString().slice(0, 10)]))
        await partitions.createDay(day);
      await c.query(
        `INSERT INTO "TelemetryWindow" ("deviceId", "bootId", seq, "windowStart", "windowEnd", "variantId", "modelVersionId", "precision",
           inferences, errors, "latencyP50Ms", "latencyP95Ms", "latencyP99Ms", "latencyMaxMs", "powerW", "powerSource", "powerDetail",
           "rssMb", "heapUsedMb", source, "latencyHistogram")
         SELECT id, id, $2::int + g, to_timestamp(($1::bigint + g * 60000) / 1000.0), to_timestamp(($1::bigint + g * 60000 + 60000) / 1000.0),
                'bench-variant', 'bench-version', 'fp32', 600, (g % 7 = 0)::int, 2.0, 3.5, 4.2, 6.0, 3 + (ord % 5) * 0.5, 'simulated', 'bench', 60, 20, 'probe',
                jsonb_build_array(jsonb_build_array(380 + (ord % 8), 200), jsonb_build_array(390 + (g % 8), 200), jsonb_build_array(400, 120),
                                  jsonb_build_array(410 + (ord % 3), 50), jsonb_build_array(420, 24), jsonb_build_array(430 + (g % 4), 6))
           FROM unnest($3::uuid[]) WITH ORDINALITY AS u(id, ord), generate_series(0, $4::int - 1) AS g`,
        [from, d * 1_440, ids, count],
      );
      // their idempotency keys, as the ingest writes them
      await c.query(
        `INSERT INTO "TelemetryWindowKey" ("deviceId", "bootId", seq, "windowStart")
         SELECT "deviceId", "bootId", seq, "windowStart" FROM "TelemetryWindow" WHERE "windowStart" >= to_timestamp($1::bigint / 1000.0) AND seq >= $2`,
        [from, d * 1_440],
      );
      process.stdout.write(`  loaded day ${d + 1}/${Math.ceil(minutes / 1_440)}\r`);
    }
  });
  const windows = Number((await c.query<{ n: string }>('SELECT count(*) AS n FROM "TelemetryWindow"')).rows[0]?.n);
  log(
    `loaded ${fmt(windows, 0)} windows (${fmt(n, 0)} devices × ${days} days of 1-minute windows) in ${fmt(loadMs / 1_000)} s (${fmt(windows / (loadMs / 1_000), 0)} windows/s, bulk SQL)`,
  );

  // the rollups of that history, as the migration computes them for existing rows
  const [, rollupMs] = await timed(async () => {
    for (const sql of await rollupBackfillStatements()) await c.query(sql);
  });
  log(`rollups of the history computed in ${fmt(rollupMs / 1_000)} s (one aggregate; from then on the fold adds each new window)`);
  // the backfill's UPDATE leaves a dead copy of every rollup row: measure the live size
  await c.query('VACUUM FULL "TelemetryDeviceRollup", "TelemetryGroupRollup"');
  await c.query('VACUUM ANALYZE');

  const size = async (sql: string) => Number((await c.query<{ b: string }>(sql)).rows[0]?.b);
  const rawBytes =
    (await size(`SELECT sum(pg_total_relation_size(relid)) AS b FROM pg_partition_tree('"TelemetryWindow"') WHERE isleaf`)) +
    (await size(`SELECT pg_total_relation_size('"TelemetryWindowKey"') AS b`));
  const rollupBytes = await size(
    `SELECT pg_total_relation_size('"TelemetryDeviceRollup"') + pg_total_relation_size('"TelemetryGroupRollup"') AS b`,
  );
  const rollupRows = await size(
    `SELECT (SELECT count(*) FROM "TelemetryDeviceRollup") + (SELECT count(*) FROM "TelemetryGroupRollup") AS b`,
  );
  log(
    `disk: raw windows ${fmt(rawBytes / 1e9, 2)} GB = ${fmt(((rawBytes / windows) * 1e6) / 1e6, 0)} MB per million windows (indexes and the idempotency key included); rollups ${fmt(rollupBytes / 1e6, 0)} MB in ${fmt(rollupRows, 0)} rows (${fmt(((rollupBytes / windows) * 1e6) / 1e6, 0)} MB per million windows)`,
  );

  // the scheduled fold runs at start and then once a minute: the insert rounds time their own folds
  const h = await startHarness({ LOG_LEVEL: 'error', ALERT_EVAL_INTERVAL_MS: '0', TELEMETRY_ROLLUP_FOLD_MS: '60000' }, { dbUrl: db.url });
  try {
    const repo = h.cp.app.get(TelemetryRepository);
    const rollups = h.cp.app.get(TelemetryRollupRepository);
    const pick = () => ids[Math.floor(Math.random() * ids.length)] ?? '';
    const since = new Date(Date.now() - DAY);

    // one request alone, five times each: raw windows (before) vs rollups (after)
    const alone = async (f: () => Promise<unknown>) => {
      const ms: number[] = [];
      for (let i = 0; i < 5; i++) ms.push((await timed(f))[1]);
      return quantile(ms, 0.5);
    };
    const rawChart = await alone(() => repo.range(pick(), since, 5_000));
    const rollupChart = await alone(() => rollups.deviceRange(pick(), 3_600, since, 5_000));
    const minuteChart = await alone(() => rollups.deviceRange(pick(), 60, since, 5_000));
    const rawOverview = await alone(() =>
      c.query(
        `SELECT d.scenario, count(*), sum(w.inferences), sum(w.errors), avg(w."powerW"), jsonb_agg(w."latencyHistogram")
           FROM "TelemetryWindow" w JOIN "Device" d ON d.id = w."deviceId" WHERE w."windowStart" >= $1 GROUP BY 1`,
        [since],
      ),
    );
    const overviewSince = new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000 - 23 * 3_600_000);
    // before: every group rollup row of the period, merged in the control plane; after: one row a scenario, merged in Postgres
    const rollupOverviewBefore = await alone(async () => {
      const rows = (await c.query<StoredStats & { scenario: string }>(OVERVIEW_BEFORE_SQL, [overviewSince])).rows;
      const byScenario = new Map<string, StoredStats[]>();
      for (const r of rows) byScenario.set(r.scenario, [...(byScenario.get(r.scenario) ?? []), r]);
      return [...byScenario.values()].map((rs) => figuresOf(rs));
    });
    const rollupOverview = await alone(async () => (await rollups.scenarioTotalsSince(3_600, overviewSince)).map((r) => figuresOf([r])));
    const fleetOverview = await alone(() => h.cp.app.get(FleetService).overview());
    // the overview's own count, which a slow one reuses for up to a second (fleet.service.ts): timed apart
    const deviceCounts = await alone(() => h.cp.app.get(DeviceRepository).countsByScenario());
    log(
      `one read alone (median of 5): device 24 h chart raw (1,440 windows) ${fmt(rawChart)} ms vs hourly rollups ${fmt(rollupChart)} ms (${fmt(rawChart / rollupChart)}×; 1,440 minute rollups ${fmt(minuteChart)} ms); scenario figures raw (windows of 24 h, histograms not even merged) ${fmt(rawOverview)} ms vs hourly group rollups merged in the control plane (before) ${fmt(rollupOverviewBefore)} ms vs merged in Postgres (after) ${fmt(rollupOverview)} ms (${fmt(rollupOverviewBefore / rollupOverview)}×); the whole overview (FleetService.overview, its answer reused within its bound) ${fmt(fleetOverview)} ms, its device count afresh ${fmt(deviceCounts)} ms`,
    );

    // through the real API, the load generator in a child process: the device page's procedure
    // (tRPC devices.telemetry, as the dashboard asks it: the last 15 min), the 24 h chart (REST and
    // tRPC), and the overview (tRPC fleet.overview, as the dashboard polls it)
    const token = h.cp.operatorToken;
    const sample = Array.from({ length: 2_000 }, pick);
    const trpcTelemetry = (sinceMinutes: number, limit: number) =>
      sample.map((id) => `/trpc/devices.telemetry?input=${encodeURIComponent(JSON.stringify({ id, sinceMinutes, limit }))}`);
    const routes: [string, string[]][] = [
      [
        'device 24 h chart, REST GET /api/v1/devices/:id/telemetry?sinceMinutes=1440',
        sample.map((id) => `/api/v1/devices/${id}/telemetry?sinceMinutes=1440&limit=5000`),
      ],
      ['device 24 h chart, tRPC devices.telemetry {sinceMinutes: 1440}', trpcTelemetry(1_440, 5_000)],
      ["device page's tRPC devices.telemetry {sinceMinutes: 15, limit: 1000}", trpcTelemetry(15, 1_000)],
      ['scenario overview, tRPC fleet.overview', ['/trpc/fleet.overview']],
    ];
    for (const [name, paths] of routes) {
      // the control plane runs in this process: its event loop's stalls are the requests' too
      const loopDelay = monitorEventLoopDelay({ resolution: 5 });
      loopDelay.enable();
      const r = await closedLoopLoad({ base: h.cp.url, token, paths, connections: CONNECTIONS, seconds });
      loopDelay.disable();
      log(
        `API, ${CONNECTIONS} connections, ${seconds} s (load generator: ${r.generator}), ${name}: ${fmt(r.rps, 0)} req/s, p50 ${fmt(r.p50)} ms, p99 ${fmt(r.p99)} ms, errors ${r.errors} (goal p99 ≤ 50 ms); control plane's event-loop delay p99 ${fmt(loopDelay.percentile(99) / 1e6)} ms, max ${fmt(loopDelay.max / 1e6)} ms; load average ${loadavg()
          .map((x) => fmt(x, 2))
          .join(' ')}`,
      );
    }

    // insert rate through the ingest's repository: batches of 1,000 windows (one a device), rollups on and off in turn
    const batch = benchWindowBatches(ids.slice(0, 1_000));
    // before: rollups in the insert's transaction (TELEMETRY_ROLLUPS=ingest); after: the insert
    // leaves the windows pending (fold), and the worker's fold adds them, timed apart; and the insert alone
    // ('fold-sql': the same, the fold merging stored histograms in SQL as before stop 22)
    const modes = ['ingest', 'fold', 'fold-sql', 'none'] as const;
    const rate = {
      ingest: [] as number[],
      fold: [] as number[],
      'fold-sql': [] as number[],
      none: [] as number[],
      folding: [] as number[],
      foldingSql: [] as number[],
    };
    const folds = h.cp.app.get(TelemetryRollupFoldService);
    await folds.drain();
    for (let round = 0; round < 8 * modes.length; round++) {
      const mode = modes[round % modes.length] ?? 'fold';
      repo.rollups = mode === 'fold-sql' ? 'fold' : mode;
      rollups.foldMergesHere = mode !== 'fold-sql';
      const rows = batch();
      const [, ms] = await timed(() => repo.insertBatch(rows));
      const [folded, foldMs] = await timed(() => folds.drain());
      if (round < 2 * modes.length) continue; // warm-up
      rate[mode].push((rows.length / ms) * 1_000);
      if (mode === 'fold') rate.folding.push((folded.folded / foldMs) * 1_000);
      if (mode === 'fold-sql') rate.foldingSql.push((folded.folded / foldMs) * 1_000);
    }
    rollups.foldMergesHere = true;
    // a fold finding several windows per device and bucket merges them before its upsert: four
    // batches, then one fold (as when a fold interval spans four of a device's windows)
    const folding4: number[] = [];
    repo.rollups = 'fold';
    for (let round = 0; round < 4; round++) {
      for (let b = 0; b < 4; b++) await repo.insertBatch(batch());
      const [folded, foldMs] = await timed(() => folds.drain());
      folding4.push((folded.folded / foldMs) * 1_000);
    }
    repo.rollups = h.config.TELEMETRY_ROLLUPS;
    const med = (xs: number[]) => quantile(xs, 0.5);
    const [before, after, fold, bare] = [med(rate.ingest), med(rate.fold), med(rate.folding), med(rate.none)];
    // the windows' own insert and their fold, one after the other: what the pair costs a window
    const afterWithFold = 1 / (1 / after + 1 / fold);
    log(
      `insert (batches of 1,000 windows of 1,000 devices, median of ${rate.ingest.length} each, in turn): before, rollups in the insert's transaction ${fmt(before, 0)} windows/s; after, insert with the pending row ${fmt(after, 0)} windows/s (${fmt(after / before, 2)}×) and the worker's fold ${fmt(fold, 0)} windows/s (both together ${fmt(afterWithFold, 0)} windows/s, ${fmt(afterWithFold / before, 2)}×); no rollups at all ${fmt(bare, 0)} windows/s`,
    );
    log(
      `the fold's histogram merge (same rounds): stored histograms read and merged in the worker ${fmt(fold, 0)} windows/s vs merged in SQL by the upsert (before stop 22) ${fmt(med(rate.foldingSql), 0)} windows/s (${fmt(fold / med(rate.foldingSql), 2)}×)`,
    );
    log(
      `fold with 4 windows per device and bucket (4 batches, then one fold; median of ${folding4.length}): ${fmt(med(folding4), 0)} windows/s (${fmt(med(folding4) / fold, 2)}× the fold of one window per device)`,
    );

    // the fold's claim of 5,000 windows from a backlog of CLAIM_BACKLOG (the newest stored windows),
    // before and after, in turn, each in a transaction rolled back (the scheduled fold kept out)
    await c.query('SELECT pg_advisory_lock($1)', [FOLD_LOCK]);
    await c.query(
      `INSERT INTO "TelemetryRollupPending" ("windowId", "windowStart")
       SELECT id, "windowStart" FROM "TelemetryWindow" ORDER BY id DESC LIMIT $1 ON CONFLICT DO NOTHING`,
      [CLAIM_BACKLOG],
    );
    await c.query('ANALYZE "TelemetryRollupPending"');
    const claim = { before: [] as number[], after: [] as number[], beforeDb: [] as number[], afterDb: [] as number[] };
    // Postgres's own time for a statement (planning + execution), from EXPLAIN ANALYZE, in a transaction rolled back
    const dbMs = async (sql: string, params: unknown[]) => {
      const [plan] = (
        await c.query<{ 'QUERY PLAN': { 'Planning Time': number; 'Execution Time': number }[] }>(
          `EXPLAIN (ANALYZE, FORMAT JSON) ${sql}`,
          params,
        )
      ).rows;
      const p = plan?.['QUERY PLAN'][0];
      return (p?.['Planning Time'] ?? NaN) + (p?.['Execution Time'] ?? NaN);
    };
    const takeAfter = async () => {
      const taken = await takePending(c, 5_000);
      if (!taken) throw new Error('no pending windows to take');
      return [taken.ids, taken.first, taken.last];
    };
    const rolledBack = async <T>(f: () => Promise<T>): Promise<T> => {
      await c.query('BEGIN');
      try {
        return await f();
      } finally {
        await c.query('ROLLBACK');
      }
    };
    for (let round = 0; round < 12; round++) {
      if (round % 2 === 0) {
        claim.before.push((await rolledBack(() => timed(() => c.query(CLAIM_BEFORE_SQL, [5_000]))))[1]);
        claim.beforeDb.push(await rolledBack(() => dbMs(CLAIM_BEFORE_SQL, [5_000])));
      } else {
        claim.after.push((await rolledBack(() => timed(async () => c.query(PENDING_WINDOWS_SQL, await takeAfter()))))[1]);
        const deleteMs = await rolledBack(() => dbMs(TAKE_PENDING_SQL, [5_000]));
        claim.afterDb.push(deleteMs + (await rolledBack(async () => dbMs(PENDING_WINDOWS_SQL, await takeAfter()))));
      }
    }
    await c.query('DELETE FROM "TelemetryRollupPending"');
    await c.query('SELECT pg_advisory_unlock($1)', [FOLD_LOCK]);
    const m = (xs: number[]) => quantile(xs.slice(1), 0.5);
    const [claimBefore, claimAfter, dbBefore, dbAfter] = [m(claim.before), m(claim.after), m(claim.beforeDb), m(claim.afterDb)];
    log(
      `fold claim of 5,000 windows from a backlog of ${fmt(CLAIM_BACKLOG, 0)} (median of ${claim.before.length - 1} each, in turn): in Postgres (EXPLAIN ANALYZE: planning + execution) before ${fmt(dbBefore)} ms, after ${fmt(dbAfter)} ms (${fmt(dbBefore / dbAfter, 2)}×); end to end through node-postgres (the 5,000 rows read and parsed) before ${fmt(claimBefore)} ms, after ${fmt(claimAfter)} ms (${fmt(claimBefore / claimAfter, 2)}×)`,
    );
  } finally {
    await h.cp.stop();
  }
  log(
    `load average at the end: ${loadavg()
      .map((x) => fmt(x, 2))
      .join(' ')}`,
  );
} finally {
  await c.end().catch(() => undefined);
  await pool.end();
  await db.drop();
}
