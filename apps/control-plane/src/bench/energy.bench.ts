/**
 * `pnpm bench:energy [devices] [hours]`: the energy report over a fleet's stored windows. N devices
 * (inserted with SQL, spread over the six scenarios, each running one of two variants, a third of
 * them with sensor power) each have `hours` of 60 s telemetry windows (each with a latency histogram,
 * as current agents send), and their rollups as the
 * migrations compute them; then the report is asked for the whole fleet and for one scenario, five
 * times each, over the last 24 h and over the last hour. Then, in the same run, the report's sums
 * and the rollout gates' baseline (every device a pending baseline device) over the last 24 h, read
 * raw (as before issue 15's rollup sums) and from the rollups, timed alternately.
 * Reports the windows stored, the time per report and per read, and the load average.
 */
import { randomUUID } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { ENERGY_SQL, EnergyRepository } from '../energy/energy.repository.js';
import { EnergyService } from '../energy/energy.service.js';
import { RolloutDeviceRepository } from '../rollouts/rollout-device.repository.js';
import { rollupSplit } from '../telemetry/rollup-span.js';
import { TelemetryRetentionService } from '../telemetry/telemetry-retention.service.js';
import { startHarness } from '../test-support/harness.js';
import { rawBaseline, rawVariantSums } from '../test-support/raw-reads.js';
import { openBenchFleet, rollupBackfillStatements } from './bench-devices.js';

const n = Number(process.argv[2] ?? 1_000);
const hours = Number(process.argv[3] ?? 24);
const WINDOW_S = 60;
const RUNS = 5;

const h = await startHarness({ LOG_LEVEL: 'error', ALERT_EVAL_INTERVAL_MS: '0', ENERGY_TARIFF_PER_KWH: '0.3' });
try {
  // the day partitions first: the worker's retention pass at start, making today's while the insert
  // below writes into the default partition, failed the insert ("violates partition constraint")
  await h.cp.app.get(TelemetryRetentionService).run(new Date());
  const { db, ids, scenarios } = await openBenchFleet(h.dbUrl, n, hours + 1);
  const variants = scenarios.flatMap(() => [randomUUID(), randomUUID()]);
  const t0 = performance.now();
  // device `ord` runs variant 2 × its scenario + (ord / 6) % 2; a third have a sensor
  await db.query(
    `INSERT INTO "TelemetryWindow" ("deviceId", "bootId", seq, "windowStart", "windowEnd", "variantId", precision, inferences, errors,
       "latencyP50Ms", "latencyP95Ms", "latencyP99Ms", "latencyMaxMs", "powerW", "powerSource", "powerDetail", "rssMb", "heapUsedMb",
       "latencyHistogram")
     SELECT id, id, k, now() - (k + 1) * interval '${WINDOW_S} seconds', now() - k * interval '${WINDOW_S} seconds',
            ($2::text[])[1 + 2 * (ord % 6) + (ord / 6) % 2], CASE WHEN (ord / 6) % 2 = 0 THEN 'fp32' ELSE 'int8' END, 600, 0,
            2, 3, 4, 5, 2 + (ord % 7) * 0.5, CASE WHEN ord % 3 = 0 THEN 'sensor' ELSE 'estimate' END, 'bench', 60, 20,
            jsonb_build_array(jsonb_build_array(380 + (ord % 8), 300), jsonb_build_array(390 + (k % 8), 200), jsonb_build_array(400, 100))
       FROM unnest($1::uuid[]) WITH ORDINALITY AS u(id, ord), generate_series(0, $3::int - 1) AS k`,
    [ids, variants, Math.round((hours * 3_600) / WINDOW_S)],
  );
  const insertS = (performance.now() - t0) / 1_000;
  const t1 = performance.now();
  for (const sql of await rollupBackfillStatements()) await db.query(sql);
  const rollupS = (performance.now() - t1) / 1_000;
  // every device a pending device of one rollout: the gates' baseline cohort at its largest
  const rolloutId = randomUUID();
  await db.query(`INSERT INTO "Model" (id, name) VALUES ($1, 'bench')`, [rolloutId]);
  await db.query(
    `INSERT INTO "ModelVersion" (id, "modelId", version, inputs, graph, "createdBy") VALUES ($1, $1, '1', '[]', '{}', 'bench')`,
    [rolloutId],
  );
  await db.query(
    `INSERT INTO "Rollout" (id, name, "modelVersionId", target, plan, status, "createdBy") VALUES ($1, 'bench', $1, '{}', '{}', 'paused', 'bench')`,
    [rolloutId],
  );
  await db.query(`INSERT INTO "RolloutDevice" ("rolloutId", "deviceId", wave) SELECT $1, unnest($2::uuid[]), 1`, [rolloutId, ids]);
  await db.query('VACUUM ANALYZE');
  const windows = ((await db.query('SELECT count(*)::int AS n FROM "TelemetryWindow"')).rows[0] as { n: number }).n;
  // EXPLAIN=1: the plan of the report's statement for the whole fleet over the last hour
  if (process.env.EXPLAIN) {
    const split = rollupSplit(new Date(Date.now() - 3_600_000));
    const plan = await db.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS) ${ENERGY_SQL}`, [
      split.since,
      null,
      split.startedAfter,
      split.wholeFrom,
      split.edgeFrom,
      split.startedBefore,
    ]);
    console.log(plan.rows.map((r) => r['QUERY PLAN']).join('\n'));
  }

  const energy = h.cp.app.get(EnergyService);
  const time = async (label: string, q: Parameters<EnergyService['report']>[0]) => {
    const ms: number[] = [];
    let rows = 0;
    for (let i = 0; i < RUNS; i++) {
      const t = performance.now();
      const r = await energy.report(q);
      ms.push(performance.now() - t);
      rows = r.scenarios.reduce((a, s) => a + s.variants.length, 0);
    }
    ms.sort((a, b) => a - b);
    console.log(`${label}: p50 ${ms[Math.floor(RUNS / 2)]?.toFixed(0)} ms, max ${ms[RUNS - 1]?.toFixed(0)} ms (${rows} variant rows)`);
  };
  const load = () =>
    loadavg()
      .map((x) => x.toFixed(2))
      .join(' ');
  console.log(
    `energy report: ${n} devices, ${windows} windows of ${WINDOW_S} s (${hours} h) inserted in ${insertS.toFixed(1)} s, ` +
      `their rollups computed in ${rollupS.toFixed(1)} s; ${cpus().length} cores, load average ${load()}`,
  );
  await time('whole fleet, last 24 h', { sinceHours: 24 });
  await time('one scenario, last 24 h', { sinceHours: 24, scenario: 'autonomous_driving' });
  await time('whole fleet, last 1 h', { sinceHours: 1 });

  // raw vs rollups, alternately, over the last 24 h
  const sums = h.cp.app.get(EnergyRepository);
  const members = h.cp.app.get(RolloutDeviceRepository);
  const reads = {
    'energy sums, raw': (since: Date) => rawVariantSums(db, since, null),
    'energy sums, rollups': (since: Date) => sums.variantSums(since, null),
    'gate baseline, raw': (since: Date) => rawBaseline(db, rolloutId, since),
    'gate baseline, rollups': (since: Date) => members.baseline(rolloutId, since),
  };
  const ms = new Map<string, number[]>(Object.keys(reads).map((k) => [k, []]));
  for (let i = 0; i < RUNS; i++) {
    for (const [label, read] of Object.entries(reads)) {
      const t = performance.now();
      await read(new Date(Date.now() - 24 * 3_600_000));
      ms.get(label)?.push(performance.now() - t);
    }
  }
  for (const [label, list] of ms) {
    list.sort((a, b) => a - b);
    console.log(`${label}, last 24 h: p50 ${list[Math.floor(RUNS / 2)]?.toFixed(0)} ms, max ${list[RUNS - 1]?.toFixed(0)} ms`);
  }
  console.log(`load average at the end: ${load()}`);
  await db.end();
} finally {
  await h.close();
}
