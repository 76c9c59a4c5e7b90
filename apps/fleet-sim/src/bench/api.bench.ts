import { ScenarioSchema } from '@edge-fleet/shared';
import { haveWrk, wrkLoad } from '@edge-fleet/test-utils';
import pg from 'pg';
import { z } from 'zod';
import { fmt } from '../core/stats.js';
import { startControlPlaneProcess } from './support/control-plane.process.js';
import { fromWrk, httpLoad, type LoadResult } from './support/http-load.js';
import { benchArgs, CommSampler, machineLine, out, ProcSampler } from './support/report.js';
import { seedDevices, seedTelemetryRollups } from './support/seed.js';

const Args = z.object({
  devices: z.coerce.number().int().min(100).max(1_000_000).default(100_000),
  seconds: z.coerce.number().min(2).max(600).default(15),
  concurrency: z.coerce.number().int().min(1).max(1_000).default(32),
  lightConcurrency: z.coerce.number().int().min(1).max(1_000).default(4),
  warmup: z.coerce.number().min(0).max(60).default(2),
  only: z.string().min(1).optional(),
  generator: z.enum(['wrk', 'node']).optional(),
});
const a = benchArgs(
  Args,
  'usage: bench:api [--devices 100000] [--seconds 15 per route] [--concurrency 32] [--light-concurrency 4] [--warmup 2 s per route, not counted] [--only <part of a route name, to run or profile one route>] [--generator wrk|node (default: wrk when installed)]',
);

const generator = a.generator ?? (haveWrk() ? 'wrk' : 'node');
if (generator === 'wrk' && !haveWrk()) {
  process.stderr.write('--generator wrk: wrk is not installed (apt-get install wrk)\n');
  process.exit(2);
}
out(machineLine());
const cp = await startControlPlaneProcess({ dbPrefix: 'ef_bench_api' });
const db = new pg.Client({ connectionString: cp.dbUrl });
try {
  await db.connect();
  const t = Date.now();
  const scenarios = ScenarioSchema.options;
  let first = '';
  for (const s of scenarios) {
    const devs = await seedDevices(cp.dbUrl, Math.ceil(a.devices / scenarios.length), s);
    first ||= devs[0]?.deviceId ?? '';
  }
  // a realistic mix of presence: about half online
  await db.query(`UPDATE "Device" SET status = CASE WHEN random() < 0.5 THEN 'online' ELSE 'offline' END, "lastSeenAt" = now()`);
  // one device with a day of 30-second telemetry windows
  await db.query(
    `INSERT INTO "TelemetryWindow" ("deviceId", "bootId", seq, "windowStart", "windowEnd", inferences, errors, "latencyP50Ms", "latencyP95Ms", "latencyP99Ms", "latencyMaxMs", "powerW", "powerSource", "powerDetail", "rssMb", "heapUsedMb")
     SELECT $1, gen_random_uuid(), g, now() - (g + 1) * interval '30 s', now() - g * interval '30 s', 300, 1, 1.2, 2.0, 3.1, 4.0, 3.5, 'simulated', 'bench', 60, 12
       FROM generate_series(0, 2879) AS g`,
    [first],
  );
  await seedTelemetryRollups(db);
  // what autovacuum does on a live system: statistics and the visibility map that index-only scans need
  await db.query('VACUUM ANALYZE');
  const total = Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM "Device"')).rows[0]?.n ?? 0);
  out(
    `api: ${fmt(total, 0)} devices and 2,880 telemetry windows seeded in ${fmt((Date.now() - t) / 1000)} s; ${a.concurrency} keep-alive connections, ${a.seconds} s per route`,
  );

  const auth = { authorization: `Bearer ${cp.operatorToken}` };
  const pages = Math.max(1, Math.floor(total / scenarios.length / 2 / 50));
  const filtered = '/api/v1/devices?pageSize=50&scenario=autonomous_driving&status=online';
  // real cursors, from walking the filtered list page by page through the API
  const cursors: string[] = [];
  for (let next: string | null = null, i = 0; i < pages && (i === 0 || next); i++) {
    const res = await fetch(`${cp.url}${filtered}${next ? `&after=${next}` : ''}`, { headers: auth });
    next = z.object({ nextCursor: z.string().nullable() }).parse(await res.json()).nextCursor;
    if (next) cursors.push(next);
  }
  const routes: [string, string[], Record<string, string>, string][] = [
    ['GET /healthz (answered before Express and Nest)', ['/healthz'], {}, 'goal ≥ 15,000 req/s'],
    [
      'GET /api/v1/no-such-route (the floor of a route through Express + Nest: routing, error filter, JSON 404; counted as errors)',
      ['/api/v1/no-such-route'],
      {},
      '',
    ],
    [
      'GET /api/v1/devices (page of 50, scenario + status filter, random page number)',
      Array.from({ length: pages }, (_, i) => `${filtered}&page=${i + 1}`),
      auth,
      'goal p99 ≤ 50 ms',
    ],
    [
      `GET /api/v1/devices (page of 50, scenario + status filter, random cursor of ${cursors.length})`,
      cursors.map((c) => `${filtered}&after=${c}`),
      auth,
      'goal p99 ≤ 50 ms',
    ],
    ['GET /api/v1/devices (first page, no filter)', ['/api/v1/devices?pageSize=50'], auth, 'goal p99 ≤ 50 ms'],
    ['GET /api/v1/devices/:id/telemetry (24 h, 500 points)', [`/api/v1/devices/${first}/telemetry?sinceMinutes=1440&limit=500`], auth, ''],
  ];
  out(
    `load generator: ${generator === 'wrk' ? 'wrk, one thread' : "Node's http client (wrk not installed: its own CPU cost lowers the figures)"}`,
  );
  // each route at full load (the req/s it sustains), and the list routes also at light load: a
  // latency figure from a saturated closed loop is mostly queueing (Little's law: connections / req/s)
  const load = (paths: string[], headers: Record<string, string>, c: number, seconds: number): Promise<LoadResult> =>
    generator === 'wrk'
      ? wrkLoad(cp.url, paths, headers, c, seconds).then(fromWrk)
      : httpLoad(cp.url, () => paths[Math.floor(Math.random() * paths.length)] ?? paths[0] ?? '/', headers, c, seconds);
  for (const [name, paths, headers, goal] of routes.filter(([name]) => !a.only || name.includes(a.only))) {
    // a route's first seconds are JIT compilation and cold caches: measured, the route that happens to
    // run first would pay for them
    if (a.warmup > 0) await load(paths, headers, a.concurrency, a.warmup);
    for (const c of goal.includes('p99') ? [a.concurrency, a.lightConcurrency] : [a.concurrency]) {
      const cpu = new ProcSampler(cp.pid);
      const pgCpu = new CommSampler(['postgres']);
      const r = await load(paths, headers, c, a.seconds);
      const used = cpu.finish();
      const p = await pgCpu.finish();
      out(
        `${name}, ${c} connections: ${fmt(r.rps, 0)} req/s, p50 ${fmt(r.latencyMs.p50, 2)} ms, p99 ${fmt(r.latencyMs.p99, 2)} ms, errors ${r.errors}; control plane ${fmt(used.cores, 2)} cores, postgres ${fmt(p.postgres ?? 0, 2)} cores${goal ? ` (${goal})` : ''}`,
      );
    }
  }
  const plan = await db.query<{ 'QUERY PLAN': string }>(
    `EXPLAIN (ANALYZE, BUFFERS) SELECT id FROM "Device" WHERE scenario = 'autonomous_driving' AND status = 'online' ORDER BY "enrolledAt", id OFFSET ${50 * Math.floor(pages / 2)} LIMIT 50`,
  );
  const count = await db.query<{ 'QUERY PLAN': string }>(
    `EXPLAIN ANALYZE SELECT count(*) FROM "Device" WHERE scenario = 'autonomous_driving' AND status = 'online'`,
  );
  const last = (rows: { 'QUERY PLAN': string }[]) =>
    rows
      .map((r) => r['QUERY PLAN'])
      .filter((l) => /Execution Time|Sort Method|Scan/.test(l))
      .map((l) => `  ${l.trim()}`)
      .join('\n');
  out(`EXPLAIN ANALYZE, device list page (mid-range offset):\n${last(plan.rows)}`);
  out(`EXPLAIN ANALYZE, its count:\n${last(count.rows)}`);
} finally {
  await db.end().catch(() => undefined);
  await cp.stop();
}
process.exit(0);
