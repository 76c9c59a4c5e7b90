/**
 * `pnpm bench:alerts [devices] [seconds]`: alert evaluation at fleet scale. N devices (inserted with
 * SQL, spread over the six scenarios, a tenth of them slow) each have 2 minutes of 5 s telemetry
 * windows; then, for the given time, an ingest loop inserts one window per device every 5 s (the
 * fleet's real rate) while evaluation passes run back to back with the default rules. Reports the
 * time per pass, the lag (how old the newest window a pass saw was when the pass ended), and the CPU
 * of this process and of Postgres (all its processes, from /proc) per pass.
 */
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { cpuSecondsNamed } from '@edge-fleet/test-utils';
import { OBSERVE_SQL, observeParams } from '../alerts/alert-evaluation.repository.js';
import { AlertEvaluator } from '../alerts/alert-evaluator.service.js';
import { startHarness } from '../test-support/harness.js';
import { openBenchFleet } from './bench-devices.js';

const n = Number(process.argv[2] ?? 10_000);
const seconds = Number(process.argv[3] ?? 30);
const WINDOW_S = 5;

const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))] ?? NaN;

const h = await startHarness({ LOG_LEVEL: 'error', ALERT_EVAL_INTERVAL_MS: '0' });
try {
  const { db, ids } = await openBenchFleet(h.dbUrl, n, 1);
  /** One window per device ending at `end`; device i is slow (40 ms) when i % 10 == 0. */
  const insertWindows = async (end: Date, seq: number) => {
    await db.query(
      `INSERT INTO "TelemetryWindow" ("deviceId", "bootId", seq, "windowStart", "windowEnd", inferences, errors,
         "latencyP50Ms", "latencyP95Ms", "latencyP99Ms", "latencyMaxMs", "powerW", "powerSource", "powerDetail", "rssMb", "heapUsedMb")
       SELECT id, id, $2, $1::timestamptz - interval '${WINDOW_S} seconds', $1::timestamptz, 50, 0,
              l, l, l, l, 3, 'simulated', 'bench', 60, 20
         FROM unnest($3::uuid[]) WITH ORDINALITY AS u(id, ord), LATERAL (SELECT CASE WHEN ord % 10 = 0 THEN 40.0 ELSE 2.0 END AS l) x`,
      [end, seq, ids],
    );
  };
  const start = Date.now();
  const history = 120 / WINDOW_S;
  for (let k = history; k > 0; k--) await insertWindows(new Date(start - k * WINDOW_S * 1_000), history - k);
  const windows = ((await db.query('SELECT count(*)::int AS n FROM "TelemetryWindow"')).rows[0] as { n: number }).n;
  await db.query('ANALYZE');
  // EXPLAIN=1: the plan of the measuring statement, as Postgres runs it on this data
  if (process.env.EXPLAIN) {
    const plan = await db.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS) ${OBSERVE_SQL}`, observeParams(new Date()));
    console.log(plan.rows.map((r) => r['QUERY PLAN']).join('\n'));
  }

  const evaluator = h.cp.app.get(AlertEvaluator);
  let stop = false;
  let seq = history;
  let newest = start;
  let ingestMs = 0;
  const ingest = (async () => {
    while (!stop) {
      const end = Date.now();
      const t = performance.now();
      await insertWindows(new Date(end), seq++);
      ingestMs = Math.max(ingestMs, performance.now() - t);
      newest = end;
      await new Promise((r) => setTimeout(r, WINDOW_S * 1_000));
    }
  })();
  const passMs: number[] = [];
  const lagMs: number[] = [];
  const nodeCpu: number[] = [];
  const pgCpu: number[] = [];
  let transitions = 0;
  let observed = 0;
  const until = Date.now() + seconds * 1_000;
  while (Date.now() < until) {
    const seen = newest;
    const c0 = process.cpuUsage();
    const p0 = cpuSecondsNamed('postgres');
    const t0 = performance.now();
    const r = await evaluator.evaluate(new Date());
    passMs.push(performance.now() - t0);
    lagMs.push(Date.now() - seen);
    const c = process.cpuUsage(c0);
    nodeCpu.push((c.user + c.system) / 1_000);
    pgCpu.push((cpuSecondsNamed('postgres') - p0) * 1_000);
    transitions += r.transitions.length;
    observed = r.observed;
  }
  stop = true;
  await ingest;
  const firing = ((await db.query(`SELECT count(*)::int AS n FROM "Alert" WHERE state = 'firing'`)).rows[0] as { n: number }).n;
  await db.end();
  const fmt = (xs: number[]) => `p50 ${quantile(xs, 0.5).toFixed(0)} ms, max ${Math.max(...xs).toFixed(0)} ms`;
  console.log(`machine: ${cpus()[0]?.model ?? '?'} × ${cpus().length}`);
  console.log(
    `devices: ${n}; windows stored at start: ${windows}; ingest: ${n} windows every ${WINDOW_S} s (slowest insert ${ingestMs.toFixed(0)} ms)`,
  );
  console.log(
    `passes: ${passMs.length} in ${seconds} s, back to back; pairs returned by the last pass: ${observed}; transitions: ${transitions}; firing at the end: ${firing}`,
  );
  console.log(`time per pass: ${fmt(passMs)}`);
  console.log(`lag (age of the newest ingested window when a pass ended): ${fmt(lagMs)} (windows arrive every ${WINDOW_S} s)`);
  console.log(`CPU per pass: this process ${fmt(nodeCpu)}; Postgres ${fmt(pgCpu)}`);
} finally {
  await h.close();
}
