/**
 * `pnpm bench:scope [devices]`: a label-scoped token's device list (issue 12). N devices (default
 * 20 000, inserted with SQL over the six scenarios) carry a `site` label of 50 and a `rack` of 10;
 * the device list (DeviceRepository.list: its page and its total) is asked for one site, one site's
 * rack, and one scenario's site, RUNS times each, with the GIN index on "Device".labels and without
 * it (dropped, then restored), in the same run. Prints each query's plan for the page and the
 * total (EXPLAIN ANALYZE) and the p50 time per list, with the ratio without / with the index.
 */
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { DeviceScope } from '../infra/scope-sql.js';
import { DeviceRepository } from '../devices/device.repository.js';
import { startHarness } from '../test-support/harness.js';
import { openBenchFleet } from './bench-devices.js';

const n = Number(process.argv[2] ?? 20_000);
const RUNS = 15;
const INDEX = `CREATE INDEX "Device_labels_idx" ON "Device" USING GIN ("labels" jsonb_path_ops)`;

const SCOPES: [string, DeviceScope][] = [
  ['site=site-7', { scenarios: [], labels: { site: 'site-7' } }],
  ['site=site-7, rack=r-3', { scenarios: [], labels: { site: 'site-7', rack: 'r-3' } }],
  ['autonomous_driving, site=site-7', { scenarios: ['autonomous_driving'], labels: { site: 'site-7' } }],
];

const h = await startHarness({ LOG_LEVEL: 'error', ALERT_EVAL_INTERVAL_MS: '0' });
try {
  const { db } = await openBenchFleet(h.dbUrl, n, 1);
  await db.query(
    `UPDATE "Device" SET labels = jsonb_build_object('site', 'site-' || (abs(hashtext(id::text)) % 50), 'rack', 'r-' || (abs(hashtext(name)) % 10))`,
  );
  await db.query('ANALYZE "Device"');
  const repo = h.cp.app.get(DeviceRepository);
  const plans = async (labels: Record<string, string>): Promise<string> => {
    const explain = async (sql: string) =>
      (await db.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, COSTS OFF) ${sql}`, [JSON.stringify(labels)])).rows
        .map((r) => `    ${r['QUERY PLAN']}`)
        .join('\n');
    return [
      '  page:',
      await explain(`SELECT d.id FROM "Device" d WHERE d.labels @> $1::jsonb ORDER BY d."enrolledAt", d.id LIMIT 51`),
      '  total:',
      await explain(`SELECT count(*) FROM "Device" d WHERE d.labels @> $1::jsonb`),
    ].join('\n');
  };
  const time = async (scope: DeviceScope): Promise<{ p50: number; total: number }> => {
    const ms: number[] = [];
    let total = 0;
    for (let i = 0; i < RUNS; i++) {
      const t = performance.now();
      total = (await repo.list({ page: 1, pageSize: 50, scope })).total;
      ms.push(performance.now() - t);
    }
    ms.sort((a, b) => a - b);
    return { p50: ms[Math.floor(RUNS / 2)] ?? 0, total };
  };
  const measure = async (): Promise<number[]> => {
    const out: number[] = [];
    for (const [, scope] of SCOPES) out.push((await time(scope)).p50);
    return out;
  };
  console.log(`scoped device list: ${n} devices; ${cpus().length} cores, load ${loadavg()[0]?.toFixed(1)}`);
  for (const labels of [{ site: 'site-7' }, { site: 'site-7', rack: 'r-3' }] as Record<string, string>[])
    console.log(`plan with the GIN index (${JSON.stringify(labels)}):\n${await plans(labels)}`);
  const withIndex = await measure();
  await db.query('DROP INDEX "Device_labels_idx"');
  await db.query('ANALYZE "Device"');
  console.log(`plan without it ({"site":"site-7","rack":"r-3"}):\n${await plans({ site: 'site-7', rack: 'r-3' })}`);
  const without = await measure();
  await db.query(INDEX);
  await db.query('ANALYZE "Device"');
  const again = await measure();
  for (const [i, [label, scope]] of SCOPES.entries()) {
    const w = Math.min(withIndex[i] ?? 0, again[i] ?? 0);
    const o = without[i] ?? 0;
    console.log(
      `${label} (${(await time(scope)).total} devices): with index p50 ${w.toFixed(2)} ms, without ${o.toFixed(2)} ms: ${(o / w).toFixed(1)}x`,
    );
  }
  await db.end();
} finally {
  await h.close();
}
