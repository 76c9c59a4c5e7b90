import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { hardwarePreset, type HardwarePresetName, type Scenario } from '@edge-fleet/shared';
import pg from 'pg';
import type { SimDeviceCredentials } from '../../sim/credentials.file.js';

/**
 * The control plane's stored-secret format (apps/control-plane/src/infra/secrets.ts):
 * `sha256$salt$hash`. Benchmarks seed devices straight into their own database with it, so a
 * large run does not first go through enrollment over HTTP.
 */
export function hashLikeControlPlane(secret: string): string {
  const salt = randomBytes(16).toString('base64url');
  return `sha256$${salt}$${createHash('sha256').update(salt).update(secret).digest('base64url')}`;
}

async function ensureProfile(c: pg.Client, preset: HardwarePresetName): Promise<string> {
  const spec = hardwarePreset(preset);
  const id = createHash('sha256').update(JSON.stringify(spec)).digest('hex');
  await c.query(
    'INSERT INTO "HardwareProfile" (id, "hardwareClass", accelerator, spec) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING',
    [id, spec.hardwareClass, spec.accelerator, JSON.stringify(spec)],
  );
  return id;
}

/** n devices of one scenario that share one secret (one hash), generated ids, in batches of 5,000. */
export async function seedDevices(
  dbUrl: string,
  n: number,
  scenario: Scenario,
  preset: HardwarePresetName = 'edge-npu-trading',
): Promise<SimDeviceCredentials[]> {
  const secret = randomBytes(32).toString('base64url');
  const hash = hashLikeControlPlane(secret);
  const c = new pg.Client({ connectionString: dbUrl });
  await c.connect();
  try {
    const profileId = await ensureProfile(c, preset);
    const ids: string[] = [];
    for (let start = 0; start < n; start += 5_000) {
      const size = Math.min(5_000, n - start);
      const r = await c.query<{ id: string }>(
        `INSERT INTO "Device" (id, name, scenario, "hardwareProfileId", "secretHash", "enrolledAt")
         SELECT gen_random_uuid(), 'bench-' || lpad((g + $1)::text, 6, '0'), $2, $3, $4, now() + (g + $1) * interval '1 millisecond'
           FROM generate_series(0, $5 - 1) AS g RETURNING id`,
        [start, scenario, profileId, hash, size],
      );
      ids.push(...r.rows.map((row) => row.id));
    }
    const profile = hardwarePreset(preset);
    return ids.map((deviceId, index) => ({ index, deviceId, deviceSecret: secret, scenario, preset, hardwareProfile: profile }));
  } finally {
    await c.end();
  }
}

/**
 * Telemetry windows seeded with SQL have no rollups, which the control plane's long telemetry reads
 * use (over an hour: prisma/migrations/20261206024500_telemetry_partitions): this runs that
 * migration's own rollup statements (its last four, over every stored window) and writes the
 * idempotency keys, as the ingest would have.
 */
export async function seedTelemetryRollups(db: pg.Client): Promise<void> {
  const file = path.resolve(
    path.dirname(fileURLToPath(import.meta.url)),
    '../../../../../prisma/migrations/20261206024500_telemetry_partitions/migration.sql',
  );
  const sql = await readFile(file, 'utf8');
  const tail = sql.slice(sql.indexOf('-- The rollups of the windows stored so far'));
  await db.query(
    `INSERT INTO "TelemetryWindowKey" ("deviceId", "bootId", seq, "windowStart") SELECT "deviceId", "bootId", seq, "windowStart" FROM "TelemetryWindow" ON CONFLICT DO NOTHING`,
  );
  for (const statement of tail.split(/;\s*\n/).filter((x) => /^\s*(INSERT|UPDATE)/m.test(x))) await db.query(statement);
}
