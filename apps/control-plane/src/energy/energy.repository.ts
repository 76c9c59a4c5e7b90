import { Inject, Injectable } from '@nestjs/common';
import type { Pool } from 'pg';
import { deviceColumns, scopeCondition, sqlParams, type DeviceScope } from '../infra/scope-sql.js';
import { PG_POOL } from '../infra/tokens.js';
import { rollupSplit } from '../telemetry/rollup-span.js';

/** One class of a variant's windows (real: sensor or estimate; or simulated), summed over the period. */
export interface WindowSums {
  windows: number;
  sensorWindows: number;
  estimateWindows: number;
  simulatedWindows: number;
  devices: number;
  inferences: number;
  energyJ: number;
  windowSeconds: number;
  spanSeconds: number;
  /** Hybrid placement's traffic to cloud nodes (request and answer bodies); null: no window reported any. */
  bytesSent: number | null;
  bytesReceived: number | null;
}

/** A (scenario, variant) pair: listed by the scenario's policy, or seen in its devices' windows. */
export interface VariantEnergyRow {
  scenario: string;
  variantId: string;
  /** The variant table's, else the one the windows reported. */
  precision: string | null;
  method: string | null;
  status: string | null;
  sizeBytes: number | null;
  modelName: string | null;
  modelVersion: string | null;
  /** The variant belongs to the scenario's current model version. */
  current: boolean;
  observed: WindowSums | null;
  simulated: WindowSums | null;
}

/** One window `t`'s contribution to its class's sums: the columns every part of {@link energySql} yields. */
const WINDOW_PART = `t."variantId", t."powerSource" = 'simulated' AS sim, t.precision, 1 AS windows,
  (t."powerSource" = 'sensor')::int AS sensor, (t."powerSource" = 'estimate')::int AS estimate,
  (t."powerSource" = 'simulated')::int AS simulated, t.inferences::float8 AS inferences,
  (t."powerW" * extract(epoch FROM t."windowEnd" - t."windowStart"))::float8 AS energy,
  extract(epoch FROM t."windowEnd" - t."windowStart")::float8 AS seconds,
  t."remoteBytesSent"::float8 AS "bytesSent", t."remoteBytesReceived"::float8 AS "bytesReceived",
  t."windowStart" AS first, t."windowEnd" AS last`;

/** An hourly rollup `r`'s two classes (simulated power and the rest) as the same columns, the class without windows left out. */
const ROLLUP_PART = `r."variantId", c.* FROM "TelemetryDeviceRollup" r CROSS JOIN LATERAL (VALUES
  (true, r."simPrecision", r."simWindows", 0, 0, r."simWindows", r."simInferences"::float8, r."simEnergyJ", r."simDurationS",
   r."simRemoteBytesSent"::float8, r."simRemoteBytesReceived"::float8, r."simFirstWindowStart", r."simLastWindowEnd"),
  (false, r."realPrecision", r.windows - r."simWindows", r."sensorWindows", r."estimateWindows", 0, (r.inferences - r."simInferences")::float8,
   r."energyJ" - r."simEnergyJ", r."durationS" - r."simDurationS", r."realRemoteBytesSent"::float8, r."realRemoteBytesReceived"::float8,
   r."realFirstWindowStart", r."realLastWindowEnd")
) c(sim, precision, windows, sensor, estimate, simulated, inferences, energy, seconds, "bytesSent", "bytesReceived", first, last)`;

/** A part's columns but its device (what a UNION with device parts takes of `pending`), of the relation `alias`. */
const partColumns = (alias: string): string =>
  ['"variantId"', 'sim', 'precision', 'windows', 'sensor', 'estimate', 'simulated', 'inferences', 'energy', 'seconds', '"bytesSent"']
    .concat(['"bytesReceived"', 'first', 'last'])
    .map((c) => `${alias}.${c}`)
    .join(', ');

/** Parts' sums per group: what every energy figure derives from. */
const PART_SUMS = `max(precision) AS precision, sum(windows)::int AS windows, sum(sensor)::int AS sensor,
  sum(estimate)::int AS estimate, sum(simulated)::int AS simulated, sum(inferences)::float8 AS inferences,
  sum(energy)::float8 AS energy, sum(seconds)::float8 AS seconds, sum("bytesSent")::float8 AS "bytesSent",
  sum("bytesReceived")::float8 AS "bytesReceived", min(first) AS first, max(last) AS last`;

/**
 * The last end of device `device`'s hourly rollups of the edge ([`$5`, `$4`)) that hold a window ending
 * after `$1`: no folded window of the edge ends later (rollup-span.ts). A value joined LATERAL before
 * the raw read, so that it bounds the (deviceId, windowEnd) index scan: as a subquery in the WHERE,
 * Postgres scanned every window since `$1` and filtered.
 */
export const EDGE_BOUND = (device: string): string => `SELECT max(e."lastWindowEnd") AS bound FROM "TelemetryDeviceRollup" e
  WHERE e."deviceId" = ${device} AND e."bucketSeconds" = 3600 AND e."bucketStart" >= $5 AND e."bucketStart" < $4 AND e."lastWindowEnd" > $1`;

/**
 * The windows of device `d` that ended after `$1` (rollup-span.ts: `$3` started after, `$4` whole
 * hours from, `$5` edge buckets from), as parts: its hourly rollups from `$4` on, and its folded windows that
 * started before `$4`, read raw through its (deviceId, windowEnd) index up to the last end of its
 * edge buckets. Its not-yet-folded windows come from the statement's `pending`.
 */
export const DEVICE_PARTS = `
  SELECT ${ROLLUP_PART}
   WHERE r."deviceId" = d.id AND r."bucketSeconds" = 3600 AND r."bucketStart" >= $4 AND r."variantId" <> '' AND c.windows > 0
  UNION ALL
  SELECT ${WINDOW_PART}
    FROM (${EDGE_BOUND('d.id')}) u
   CROSS JOIN LATERAL (
     SELECT * FROM "TelemetryWindow" t
      WHERE t."deviceId" = d.id AND t."windowEnd" > $1 AND t."windowEnd" <= u.bound AND t."windowStart" > $3 AND t."windowStart" < $4
        AND t."variantId" IS NOT NULL) t
   WHERE NOT EXISTS (SELECT 1 FROM "TelemetryRollupPending" p WHERE p."windowId" = t.id)`;

/** The windows not folded yet that ended after `$1` (started after `$3` and before `$6`), read raw, each with its device. */
export const PENDING_PARTS = `SELECT t."deviceId", ${WINDOW_PART}
    FROM "TelemetryRollupPending" p JOIN "TelemetryWindow" t ON t.id = p."windowId" AND t."windowStart" = p."windowStart"
   WHERE p."windowStart" > $3 AND t."windowStart" > $3 AND p."windowStart" < $6 AND t."windowStart" < $6
     AND t."windowEnd" > $1 AND t."variantId" IS NOT NULL`;

/**
 * One statement: the windows that ended after `$1` of devices in the scenario (`$2`, null: all),
 * read from the hourly rollups where whole hours allow and raw where not (rollup-span.ts: `$3`,
 * `$4`, `$5`), summed per device first, then per (scenario, variant, simulated or not), joined with
 * the variants of each scenario's policy model version so a variant without windows is still listed.
 * The sums are those of the raw windows (energy-rollups.int.spec.ts). Per-device rollups, not the
 * group ones: a device counts once per variant, under its scenario and labels as they are now.
 * `devices` and `scenarios` are the conditions of a token's scope on the device `d` and the policy
 * `p` (scope-sql.ts).
 */
export const energySql = (devices = 'TRUE', scenarios = 'TRUE'): string => `
WITH pending AS MATERIALIZED (${PENDING_PARTS}),
parts AS (
  SELECT d.id AS "deviceId", d.scenario, x.*
    FROM "Device" d CROSS JOIN LATERAL (${DEVICE_PARTS}) x
   WHERE ($2::text IS NULL OR d.scenario = $2) AND ${devices}
  UNION ALL
  SELECT d.id, d.scenario, ${partColumns('pw')}
    FROM pending pw JOIN "Device" d ON d.id = pw."deviceId"
   WHERE ($2::text IS NULL OR d.scenario = $2) AND ${devices}
),
per_device AS (
  SELECT scenario, "variantId", sim, ${PART_SUMS} FROM parts GROUP BY "deviceId", scenario, "variantId", sim
),
w AS (
  SELECT scenario, "variantId", sim, max(precision) AS precision,
         sum(windows)::int AS windows, sum(sensor)::int AS "sensorWindows", sum(estimate)::int AS "estimateWindows",
         sum(simulated)::int AS "simulatedWindows", count(*)::int AS devices, sum(inferences)::float8 AS inferences,
         sum(energy)::float8 AS "energyJ", sum(seconds)::float8 AS "windowSeconds",
         extract(epoch FROM max(last) - min(first))::float8 AS "spanSeconds",
         sum("bytesSent")::float8 AS "bytesSent", sum("bytesReceived")::float8 AS "bytesReceived"
    FROM per_device
   GROUP BY scenario, "variantId", sim
),
listed AS (
  SELECT p.scenario, v.id::text AS "variantId"
    FROM "Policy" p JOIN "ModelVariant" v ON v."modelVersionId" = p."modelVersionId"
   WHERE ($2::text IS NULL OR p.scenario = $2) AND ${scenarios}
  UNION
  SELECT scenario, "variantId" FROM w
)
SELECT l.scenario, l."variantId",
       coalesce(v.precision, wo.precision, ws.precision) AS precision,
       v.method, v.status, v."sizeBytes", m.name AS "modelName", mv.version AS "modelVersion",
       (p."modelVersionId" IS NOT NULL AND p."modelVersionId" = v."modelVersionId") AS "current",
       CASE WHEN wo.windows IS NULL THEN NULL ELSE json_build_object(
         'windows', wo.windows, 'sensorWindows', wo."sensorWindows", 'estimateWindows', wo."estimateWindows",
         'simulatedWindows', wo."simulatedWindows", 'devices', wo.devices, 'inferences', wo.inferences,
         'energyJ', wo."energyJ", 'windowSeconds', wo."windowSeconds", 'spanSeconds', wo."spanSeconds",
         'bytesSent', wo."bytesSent", 'bytesReceived', wo."bytesReceived") END AS observed,
       CASE WHEN ws.windows IS NULL THEN NULL ELSE json_build_object(
         'windows', ws.windows, 'sensorWindows', ws."sensorWindows", 'estimateWindows', ws."estimateWindows",
         'simulatedWindows', ws."simulatedWindows", 'devices', ws.devices, 'inferences', ws.inferences,
         'energyJ', ws."energyJ", 'windowSeconds', ws."windowSeconds", 'spanSeconds', ws."spanSeconds",
         'bytesSent', ws."bytesSent", 'bytesReceived', ws."bytesReceived") END AS simulated
  FROM listed l
  LEFT JOIN "ModelVariant" v ON v.id::text = l."variantId"
  LEFT JOIN "ModelVersion" mv ON mv.id = v."modelVersionId"
  LEFT JOIN "Model" m ON m.id = mv."modelId"
  LEFT JOIN "Policy" p ON p.scenario = l.scenario
  LEFT JOIN w wo ON wo.scenario = l.scenario AND wo."variantId" = l."variantId" AND NOT wo.sim
  LEFT JOIN w ws ON ws.scenario = l.scenario AND ws."variantId" = l."variantId" AND ws.sim
 ORDER BY l.scenario, "current" DESC, mv."createdAt", l."variantId"`;

/** The report's SQL for the whole fleet. */
export const ENERGY_SQL = energySql();

/** One device's sums per (variant, simulated or not), with when its windows began and ended (epoch seconds). */
export interface DeviceVariantRow {
  variantId: string;
  sim: boolean;
  precision: string | null;
  method: string | null;
  status: string | null;
  sizeBytes: number | null;
  modelName: string | null;
  modelVersion: string | null;
  sums: WindowSums;
  firstS: number;
  lastS: number;
}

/** Device `$2`'s windows that ended after `$1` (rollup-span.ts: `$3`, `$4`, `$5`, `$6`), per variant and class, as {@link energySql} reads them. */
export const DEVICE_ENERGY_SQL = `
WITH pending AS MATERIALIZED (${PENDING_PARTS} AND t."deviceId" = $2::uuid),
x AS (
  SELECT "variantId", sim, ${PART_SUMS}
    FROM (SELECT x.* FROM "Device" d CROSS JOIN LATERAL (${DEVICE_PARTS}) x WHERE d.id = $2::uuid
          UNION ALL
          SELECT ${partColumns('pending')} FROM pending) u
   GROUP BY "variantId", sim
)
SELECT x."variantId", x.sim, coalesce(v.precision, x.precision) AS precision, v.method, v.status, v."sizeBytes",
       m.name AS "modelName", mv.version AS "modelVersion",
       extract(epoch FROM x.first)::float8 AS "firstS", extract(epoch FROM x.last)::float8 AS "lastS",
       json_build_object('windows', x.windows, 'sensorWindows', x.sensor, 'estimateWindows', x.estimate,
         'simulatedWindows', x.simulated, 'devices', 1, 'inferences', x.inferences, 'energyJ', x.energy,
         'windowSeconds', x.seconds, 'spanSeconds', extract(epoch FROM x.last - x.first),
         'bytesSent', x."bytesSent", 'bytesReceived', x."bytesReceived") AS sums
  FROM x
  LEFT JOIN "ModelVariant" v ON v.id::text = x."variantId"
  LEFT JOIN "ModelVersion" mv ON mv.id = v."modelVersionId"
  LEFT JOIN "Model" m ON m.id = mv."modelId"
 ORDER BY x."variantId", x.sim`;

/** Energy figures' SQL (M20): the sums per variant the service turns into figures. */
@Injectable()
export class EnergyRepository {
  constructor(@Inject(PG_POOL) private readonly pool: Pool) {}

  /**
   * The sums of the devices in `scope` only (none: every device); the policy variants listed without
   * windows are those of the scope's scenarios (any, for a scope of labels alone).
   */
  async variantSums(since: Date, scenario: string | null, scope?: DeviceScope): Promise<VariantEnergyRow[]> {
    const split = rollupSplit(since);
    const q = sqlParams([since, scenario, split.startedAfter, split.wholeFrom, split.edgeFrom, split.startedBefore]);
    const sql = energySql(
      scopeCondition(scope, deviceColumns('d'), q.param),
      scopeCondition(scope && { scenarios: scope.scenarios, labels: {} }, { scenario: 'p.scenario' }, q.param),
    );
    return (await this.pool.query<VariantEnergyRow>(sql, q.params)).rows;
  }

  async device(deviceId: string): Promise<{ name: string; scenario: string } | null> {
    const r = await this.pool.query<{ name: string; scenario: string }>('SELECT name, scenario FROM "Device" WHERE id = $1::uuid', [
      deviceId,
    ]);
    return r.rows[0] ?? null;
  }

  async deviceSums(deviceId: string, since: Date): Promise<DeviceVariantRow[]> {
    const split = rollupSplit(since);
    return (
      await this.pool.query<DeviceVariantRow>(DEVICE_ENERGY_SQL, [
        since,
        deviceId,
        split.startedAfter,
        split.wholeFrom,
        split.edgeFrom,
        split.startedBefore,
      ])
    ).rows;
  }
}
