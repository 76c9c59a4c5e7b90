import { Inject, Injectable } from '@nestjs/common';
import type { Pool } from 'pg';
import { deviceColumns, scopeCondition, sqlParams, type DeviceScope } from '../infra/scope-sql.js';
import { PG_POOL } from '../infra/tokens.js';
import { startedAfter } from '../telemetry/window-span.js';

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
export const energySql = (devices = 'TRUE', scenarios = 'TRUE'): string => `
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

/** The device's windows that ended after `$2` (started after `$3`: window-span.ts), through its (deviceId, windowEnd) index, per variant and class. */
export const DEVICE_ENERGY_SQL = `
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

/** Energy figures' SQL (M20): the sums per variant the service turns into figures. */
@Injectable()
export class EnergyRepository {
  constructor(@Inject(PG_POOL) private readonly pool: Pool) {}

  /**
   * The sums of the devices in `scope` only (none: every device); the policy variants listed without
   * windows are those of the scope's scenarios (any, for a scope of labels alone).
   */
  async variantSums(since: Date, scenario: string | null, scope?: DeviceScope): Promise<VariantEnergyRow[]> {
    const q = sqlParams([since, scenario, startedAfter(since)]);
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
    return (await this.pool.query<DeviceVariantRow>(DEVICE_ENERGY_SQL, [deviceId, since, startedAfter(since)])).rows;
  }
}
