import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { hardwarePreset, LatencyHistogram, ScenarioSchema, type TelemetryWindow } from '@edge-fleet/shared';
import pg from 'pg';

/** The hardware profile bench devices share (`id` 'bench'), inserted with SQL. */
export async function insertBenchProfile(db: pg.Client): Promise<string> {
  const spec = hardwarePreset('robot-npu-arm');
  await db.query(`INSERT INTO "HardwareProfile" (id, "hardwareClass", accelerator, spec) VALUES ('bench', $1, $2, $3)`, [
    spec.hardwareClass,
    spec.accelerator,
    spec,
  ]);
  return 'bench';
}

/** N online bench devices (ids given) spread round-robin over the scenarios, enrolled `enrolledHoursAgo` ago (the column is UTC without a zone). */
export async function insertBenchDevices(
  db: pg.Client,
  ids: readonly string[],
  scenarios: readonly string[],
  enrolledHoursAgo: number,
): Promise<void> {
  await db.query(
    `INSERT INTO "Device" (id, name, scenario, "hardwareProfileId", "secretHash", status, "enrolledAt")
     SELECT id, 'bench-' || id, ($2::text[])[1 + (ord % array_length($2::text[], 1))], 'bench', 'x', 'online', now() AT TIME ZONE 'UTC' - make_interval(hours => $3::int)
       FROM unnest($1::uuid[]) WITH ORDINALITY AS u(id, ord)`,
    [ids, scenarios, enrolledHoursAgo],
  );
}

/** A connection to the bench's database with the bench profile and `n` devices over the six scenarios. */
export async function openBenchFleet(
  dbUrl: string,
  n: number,
  enrolledHoursAgo: number,
): Promise<{ db: pg.Client; ids: string[]; scenarios: readonly string[] }> {
  const db = new pg.Client({ connectionString: dbUrl });
  await db.connect();
  await insertBenchProfile(db);
  const ids = Array.from({ length: n }, () => randomUUID());
  const scenarios = ScenarioSchema.options;
  await insertBenchDevices(db, ids, scenarios, enrolledHoursAgo);
  return { db, ids, scenarios };
}

/**
 * The statements that compute the rollups of windows already stored, as the migrations do: the
 * original backfill (20261206024500) and the energy and baseline sums' (20261206140000). Benches
 * that insert windows with SQL run them to have the rollups the fold would have kept.
 */
export async function rollupBackfillStatements(): Promise<string[]> {
  const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../prisma/migrations');
  const original = await readFile(path.join(dir, '20261206024500_telemetry_partitions/migration.sql'), 'utf8');
  const sums = await readFile(path.join(dir, '20261206140000_rollup_energy_sums/migration.sql'), 'utf8');
  return [original.slice(original.indexOf('-- The rollups of the windows stored so far')), sums]
    .flatMap((sql) => sql.split(/;\s*\n/))
    .filter((s) => /^\s*(INSERT|UPDATE)/m.test(s));
}

/**
 * A maker of ingest batches for bench devices: each call gives one 1-minute window a device, ending
 * now, all of one boot with the next sequence number, each with a 600-run latency histogram.
 */
export function benchWindowBatches(ids: readonly string[], detail = 'bench'): () => TelemetryWindow[] {
  const hist = new LatencyHistogram();
  for (let i = 0; i < 600; i++) hist.record(1 + (i % 50) / 10);
  const latencyHistogram = hist.toSparse();
  const boot = randomUUID();
  let seq = 0;
  return () => {
    const at = new Date();
    seq++;
    return ids.map((deviceId) => ({
      schema: 1,
      deviceId,
      bootId: boot,
      seq,
      windowStart: new Date(at.getTime() - 60_000).toISOString(),
      windowEnd: at.toISOString(),
      modelVersionId: 'bench-version',
      variantId: 'bench-variant',
      precision: 'fp32',
      inferences: 600,
      errors: 0,
      latencyMs: { p50: 2, p95: 3.5, p99: 4.2, max: 6 },
      power: { watts: 3, source: 'simulated', detail },
      memory: { rssMb: 60, heapUsedMb: 20 },
      cacheHits: 0,
      fallbacks: 0,
      source: 'probe',
      latencyHistogram,
    }));
  };
}
