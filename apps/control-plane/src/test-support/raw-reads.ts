import type pg from 'pg';
import { LatencyHistogram, type BaselineFigures, type SparseHistogram } from '@edge-fleet/shared';
import type { DeviceVariantRow, VariantEnergyRow } from '../energy/energy.repository.js';
import { deviceColumns, scopeCondition, sqlParams, type DeviceScope } from '../infra/scope-sql.js';
import { startedAfter } from '../telemetry/window-span.js';

/**
 * The energy report's and the rollout gates' baseline reads as they were before they read the
 * rollups (every raw window of the period): what energy-rollups.int.spec.ts checks the rollup
 * reads against, and what bench:energy times them against.
 */

/** The sums of a group of windows `t` (one variant's, simulated or not): what every energy figure derives from. */
const WINDOW_SUMS = `(t."powerSource" = 'simulated') AS sim, max(t.precision) AS precision,
  count(*)::int AS windows,
  (count(*) FILTER (WHERE t."powerSource" = 'sensor'))::int AS sensor,
  (count(*) FILTER (WHERE t."powerSource" = 'estimate'))::int AS estimate,
  (count(*) FILTER (WHERE t."powerSource" = 'simulated'))::int AS simulated,
  sum(t.inferences)::float8 AS inferences,
  sum(t."powerW" * extract(epoch FROM t."windowEnd" - t."windowStart"))::float8 AS energy,
  sum(extract(epoch FROM t."windowEnd" - t."windowStart"))::float8 AS seconds,
  sum(t."remoteBytesSent")::float8 AS "bytesSent", sum(t."remoteBytesReceived")::float8 AS "bytesReceived",
  min(t."windowStart") AS first, max(t."windowEnd") AS last`;

/**
 * One statement: the windows that ended after `$1` (and so started after `$3`, which names the day
 * partitions to read: window-span.ts) of devices in the scenario (`$2`, null: all),
 * summed per device first (each device's windows are read through its (deviceId, windowEnd) index,
 * not a scan of the table), then per (scenario, variant, simulated or not), joined with the variants of each scenario's
 * policy model version so a variant without windows is still listed. `devices` and `scenarios` are
 * the conditions of a token's scope on the device `d` and the policy `p` (scope-sql.ts).
 */
const rawEnergySql = (devices = 'TRUE', scenarios = 'TRUE'): string => `
WITH per_device AS (
  SELECT d.scenario, x.*
    FROM "Device" d
   CROSS JOIN LATERAL (
     SELECT t."variantId", ${WINDOW_SUMS}
       FROM "TelemetryWindow" t
      WHERE t."deviceId" = d.id AND t."windowEnd" > $1 AND t."windowStart" > $3 AND t."variantId" IS NOT NULL
      GROUP BY t."variantId", sim
   ) x
   WHERE ($2::text IS NULL OR d.scenario = $2) AND ${devices}
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

const RAW_DEVICE_ENERGY_SQL = `
WITH x AS (
  SELECT t."variantId", ${WINDOW_SUMS}
    FROM "TelemetryWindow" t
   WHERE t."deviceId" = $1::uuid AND t."windowEnd" > $2 AND t."windowStart" > $3 AND t."variantId" IS NOT NULL
   GROUP BY t."variantId", sim
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

/** The fleet's energy sums per (scenario, variant, class) from the raw windows that ended after `since` (as EnergyRepository.variantSums). */
export async function rawVariantSums(
  db: pg.ClientBase | pg.Pool,
  since: Date,
  scenario: string | null,
  scope?: DeviceScope,
): Promise<VariantEnergyRow[]> {
  const q = sqlParams([since, scenario, startedAfter(since)]);
  const sql = rawEnergySql(
    scopeCondition(scope, deviceColumns('d'), q.param),
    scopeCondition(scope && { scenarios: scope.scenarios, labels: {} }, { scenario: 'p.scenario' }, q.param),
  );
  return (await db.query<VariantEnergyRow>(sql, q.params)).rows;
}

/** One device's energy sums from its raw windows that ended after `since` (as EnergyRepository.deviceSums). */
export async function rawDeviceSums(db: pg.ClientBase | pg.Pool, deviceId: string, since: Date): Promise<DeviceVariantRow[]> {
  return (await db.query<DeviceVariantRow>(RAW_DEVICE_ENERGY_SQL, [deviceId, since, startedAfter(since)])).rows;
}

/** The baseline of rollout `rolloutId` from the raw windows that ended after `since`, its devices' distributions by device id. */
export async function rawBaseline(db: pg.ClientBase | pg.Pool, rolloutId: string, since: Date): Promise<Map<string, BaselineFigures>> {
  const started = startedAfter(since);
  const rows = (
    await db.query<{ hardwareClass: string; devices: string; latency: number | null; inferences: string | null; errors: string | null }>(
      `SELECT hp."hardwareClass", count(DISTINCT t."deviceId") AS devices,
              percentile_cont(0.5) WITHIN GROUP (ORDER BY CASE p."latencyPercentile" WHEN 'p50' THEN t."latencyP50Ms" WHEN 'p95' THEN t."latencyP95Ms" ELSE t."latencyP99Ms" END) AS latency,
              sum(t.inferences) AS inferences, sum(t.errors) AS errors
         FROM "RolloutDevice" rd
         JOIN "Device" d ON d.id = rd."deviceId"
         JOIN "HardwareProfile" hp ON hp.id = d."hardwareProfileId"
         JOIN "Policy" p ON p.scenario = d.scenario
         JOIN "TelemetryWindow" t ON t."deviceId" = rd."deviceId" AND t."windowEnd" > $2 AND t."windowStart" > $3 AND t.inferences > 0
        WHERE rd."rolloutId" = $1::uuid AND rd.state = 'pending'
        GROUP BY hp."hardwareClass"`,
      [rolloutId, since, started],
    )
  ).rows;
  const perDevice = (
    await db.query<{ deviceId: string; hardwareClass: string; histograms: SparseHistogram[]; windows: string }>(
      `SELECT t."deviceId"::text AS "deviceId", hp."hardwareClass", jsonb_agg(t."latencyHistogram") AS histograms, count(*) AS windows
         FROM "RolloutDevice" rd
         JOIN "Device" d ON d.id = rd."deviceId"
         JOIN "HardwareProfile" hp ON hp.id = d."hardwareProfileId"
         JOIN "TelemetryWindow" t ON t."deviceId" = rd."deviceId" AND t."windowEnd" > $2 AND t."windowStart" > $3 AND t.inferences > 0
              AND t."latencyHistogram" IS NOT NULL
        WHERE rd."rolloutId" = $1::uuid AND rd.state = 'pending'
        GROUP BY t."deviceId", hp."hardwareClass"
        ORDER BY t."deviceId"`,
      [rolloutId, since, started],
    )
  ).rows;
  return new Map(
    rows.map((r) => [
      r.hardwareClass,
      {
        devices: Number(r.devices),
        latencyMs: r.latency,
        errorRate: r.inferences && Number(r.inferences) ? Number(r.errors ?? 0) / Number(r.inferences) : null,
        distributions: perDevice
          .filter((d) => d.hardwareClass === r.hardwareClass)
          .map((d) => ({ deviceId: d.deviceId, histogram: LatencyHistogram.merged(d.histograms).toSparse(), windows: Number(d.windows) })),
      },
    ]),
  );
}
