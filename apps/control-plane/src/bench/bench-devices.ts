import { hardwarePreset } from '@edge-fleet/shared';
import type pg from 'pg';

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
