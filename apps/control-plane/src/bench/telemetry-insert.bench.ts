/**
 * `pnpm bench:telemetry-insert [devices] [rounds]`: the CPU that Postgres and this process spend per
 * stored window on the ingest's insert (TELEMETRY_ROLLUPS=fold: the window, its idempotency key,
 * its pending row and the devices' last-seen, in one transaction), with the batch sent two ways in
 * turn on one connection:
 * - before: one statement with one array parameter a column (unnest), as the ingest did until
 *   issue 15's COPY work;
 * - now (the ingest's repository): the batch streamed with COPY (text format) into a temporary
 *   table, then the same statement reading from it.
 * Each round inserts 20 batches of one window per device; the worker's fold of the pending rows
 * runs between rounds, untimed. Postgres' CPU is the connection's backend's, from /proc (the shared
 * WAL writer works for every database on the machine and is left out); this process's from
 * `process.cpuUsage`.
 */
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { TelemetryWindow } from '@edge-fleet/shared';
import { procUsage } from '@edge-fleet/test-utils';
import pg from 'pg';
import { DeviceRepository } from '../devices/device.repository.js';
import { withTransaction } from '../infra/pg-transaction.js';
import { asBulkTx } from '../infra/unit-of-work.js';
import { freshDatabase, startHarness } from '../test-support/harness.js';
import { TelemetryRollupFoldService } from '../telemetry/telemetry-rollup-fold.service.js';
import { TelemetryRollupRepository } from '../telemetry/telemetry-rollup.repository.js';
import { insertPendingSql, TELEMETRY_COLUMNS, TelemetryRepository, telemetryValuesOf } from '../telemetry/telemetry.repository.js';
import { benchWindowBatches, openBenchFleet } from './bench-devices.js';

const devices = Number(process.argv[2] ?? 1_000);
const rounds = Number(process.argv[3] ?? 6);
const BATCHES_PER_ROUND = 20;

const log = (s: string) => process.stdout.write(`${s}\n`);
const fmt = (x: number, d = 1) => x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

const NAMES = TELEMETRY_COLUMNS.map(([c]) => `"${c}"`).join(', ');
const UNNEST_INPUT = `unnest(${TELEMETRY_COLUMNS.map(([, t], i) => `$${i + 1}::${t}[]`).join(', ')}) WITH ORDINALITY AS t(${NAMES}, ord)`;
const UNNEST_INSERT_SQL = insertPendingSql(UNNEST_INPUT);

/** Before: the same transaction as the ingest's, the batch sent as one array parameter a column. */
async function insertByUnnest(pool: pg.Pool, seen: DeviceRepository, rows: TelemetryWindow[]): Promise<number> {
  return withTransaction(pool, async (client) => {
    const cols: unknown[][] = TELEMETRY_COLUMNS.map(() => []);
    for (const w of rows) telemetryValuesOf(w).forEach((v, i) => cols[i]?.push(v));
    const res = await client.query({ name: 'telemetry-insert-pending-unnest', text: UNNEST_INSERT_SQL, values: cols });
    await seen.markSeen(asBulkTx(client), [...new Set(rows.map((r) => r.deviceId))]);
    return res.rowCount ?? 0;
  });
}

const db = await freshDatabase('ef_bench_insert');
const h = await startHarness({ LOG_LEVEL: 'error', ALERT_EVAL_INTERVAL_MS: '0', TELEMETRY_ROLLUP_FOLD_MS: '60000' }, { dbUrl: db.url });
// one connection: its backend is the Postgres process whose CPU is read
const pool = new pg.Pool({ connectionString: db.url, max: 1 });
const { db: c, ids } = await openBenchFleet(db.url, devices, 1);
try {
  log(
    `machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), load average ${loadavg()
      .map((x) => fmt(x, 2))
      .join(' ')} at start`,
  );
  const backend = (await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid ?? 0;
  const seen = h.cp.app.get(DeviceRepository);
  const repo = new TelemetryRepository(pool, seen, h.cp.app.get(TelemetryRollupRepository), h.config);
  repo.rollups = 'fold';
  const folds = h.cp.app.get(TelemetryRollupFoldService);

  // a tab in every window's power detail: COPY's text format has to escape it
  const batch = benchWindowBatches(ids, 'bench\ttab');
  const ways = {
    unnest: (rows: TelemetryWindow[]) => insertByUnnest(pool, seen, rows),
    copy: (rows: TelemetryWindow[]) => repo.insertBatch(rows),
  };
  const figures = { unnest: [] as { pg: number; cp: number; wall: number }[], copy: [] as { pg: number; cp: number; wall: number }[] };
  // a warm-up round each, then the two ways in turn
  for (let round = -1; round < rounds; round++) {
    for (const way of ['unnest', 'copy'] as const) {
      const batches = Array.from({ length: BATCHES_PER_ROUND }, batch);
      const pg0 = procUsage(backend).cpuSeconds;
      const cp0 = process.cpuUsage();
      const t0 = performance.now();
      let stored = 0;
      for (const rows of batches) stored += await ways[way](rows);
      const wall = performance.now() - t0;
      const cpu = process.cpuUsage(cp0);
      const pgSeconds = procUsage(backend).cpuSeconds - pg0;
      if (stored !== devices * BATCHES_PER_ROUND) throw new Error(`${way}: stored ${stored} of ${devices * BATCHES_PER_ROUND}`);
      await folds.drain();
      if (round < 0) continue;
      figures[way].push({ pg: (pgSeconds * 1e6) / stored, cp: (cpu.user + cpu.system) / stored, wall: (stored / wall) * 1_000 });
    }
  }
  const stored = Number((await c.query<{ n: string }>('SELECT count(*) AS n FROM "TelemetryWindow"')).rows[0]?.n);
  log(
    `insert of ${BATCHES_PER_ROUND} batches of ${fmt(devices, 0)} windows (one a device) a round, ${rounds} rounds a way in turn (warm-up excluded); ${fmt(stored, 0)} windows stored in all`,
  );
  const summary = (way: 'unnest' | 'copy') => {
    const f = figures[way];
    return { pg: median(f.map((x) => x.pg)), cp: median(f.map((x) => x.cp)), rate: median(f.map((x) => x.wall)) };
  };
  const before = summary('unnest');
  const after = summary('copy');
  for (const [name, s] of [
    ['before: unnest (one array parameter a column)', before],
    ['now: COPY into a temporary table, then the same statement (the ingest)', after],
  ] as const)
    log(
      `${name}: Postgres backend ${fmt(s.pg)} µs, this process ${fmt(s.cp)} µs, together ${fmt(s.pg + s.cp)} µs per window (median of rounds); ${fmt(s.rate, 0)} windows/s on one connection`,
    );
  log(
    `COPY vs unnest: Postgres ×${fmt(after.pg / before.pg, 2)}, this process ×${fmt(after.cp / before.cp, 2)}, together ×${fmt((after.pg + after.cp) / (before.pg + before.cp), 2)}, rate ×${fmt(after.rate / before.rate, 2)}; load average ${loadavg()
      .map((x) => fmt(x, 2))
      .join(' ')} at the end`,
  );
} finally {
  await pool.end();
  await c.end();
  await h.close();
  await db.drop();
}
