import { randomUUID } from 'node:crypto';
import { hardwarePreset, ScenarioSchema } from '@edge-fleet/shared';
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
