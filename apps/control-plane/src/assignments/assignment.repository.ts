import { Inject, Injectable } from '@nestjs/common';
import type { Pool } from 'pg';
import {
  ACTIVE_ROLLOUT_STATUSES,
  DeviceBenchmarkSchema,
  MeasuredLatencySchema,
  VariantMeasurementSchema,
  type DeviceBenchmark,
  type DeviceMeasurements,
  type MeasuredLatency,
  type HardwareProfile,
  type InputSpec,
  type LatencyFigures,
  type Scenario,
} from '@edge-fleet/shared';
import type { Db } from '../infra/prisma.js';
import { PG_POOL, PRISMA } from '../infra/tokens.js';
import { measurementsOf } from './device-measurements.js';
import { startedAfter, startedBefore } from '../telemetry/window-span.js';

/** A model version with every variant the builder produced, as the assignment logic needs it. */
export interface VersionVariants {
  modelId: string;
  modelVersionId: string;
  name: string;
  version: string;
  inputs: InputSpec[];
  variants: {
    id: string;
    precision: string;
    method: string;
    status: string;
    reason: string | null;
    sha256: string | null;
    sizeBytes: number | null;
    measured: ReturnType<typeof VariantMeasurementSchema.safeParse>['data'] | null;
  }[];
}

export interface AssignableDevice {
  id: string;
  name: string;
  scenario: Scenario;
  /** The profile's class (its column, not its spec): what the device's manifests are signed for. */
  hardwareClass: string;
  assignmentVersion: number;
  hardwareProfile: HardwareProfile;
  /** What the device measured itself (its latest reported state); absent where not read. */
  measurements?: DeviceMeasurements;
}

type DeviceRow = Omit<AssignableDevice, 'measurements'> & { measuredLatency: unknown; benchmark: unknown };

function assignable({ measuredLatency, benchmark, ...d }: DeviceRow): AssignableDevice {
  return { ...d, measurements: measurementsOf(measuredLatency, benchmark) };
}

/** The device columns assignment reads, with its own measurements from the latest reported state. */
const DEVICE_COLUMNS = `d.id::text AS id, d.name, d.scenario, h."hardwareClass", d."assignmentVersion", h.spec AS "hardwareProfile",
  r.payload->'measuredLatency' AS "measuredLatency", r.payload->'benchmark' AS "benchmark"`;
const DEVICE_FROM = `"Device" d JOIN "HardwareProfile" h ON h.id = d."hardwareProfileId" LEFT JOIN "ReportedState" r ON r."deviceId" = d.id`;

/** What assignment decisions read: model versions and their variants, devices, their measurements. Writes nothing. */
@Injectable()
export class AssignmentRepository {
  constructor(
    @Inject(PRISMA) private readonly db: Db,
    @Inject(PG_POOL) private readonly pool: Pool,
  ) {}

  async versionVariants(modelVersionId: string): Promise<VersionVariants | null> {
    const mv = await this.db.modelVersion.findUnique({
      where: { id: modelVersionId },
      select: {
        id: true,
        version: true,
        inputs: true,
        model: { select: { id: true, name: true } },
        variants: {
          select: { id: true, precision: true, method: true, status: true, reason: true, sha256: true, sizeBytes: true, measured: true },
        },
      },
    });
    if (!mv) return null;
    return {
      modelId: mv.model.id,
      modelVersionId: mv.id,
      name: mv.model.name,
      version: mv.version,
      inputs: mv.inputs as InputSpec[],
      variants: mv.variants.map((v) => ({ ...v, measured: VariantMeasurementSchema.safeParse(v.measured).data ?? null })),
    };
  }

  /** Per device coming online without an assignment, so on the pg pool. */
  async scenarioModelVersion(scenario: Scenario): Promise<string | null> {
    const res = await this.pool.query<{ modelVersionId: string | null }>(
      'SELECT "modelVersionId"::text AS "modelVersionId" FROM "Policy" WHERE scenario = $1',
      [scenario],
    );
    return res.rows[0]?.modelVersionId ?? null;
  }

  async scenarioDevices(scenario: Scenario): Promise<AssignableDevice[]> {
    // one query with the profile joined (Prisma's nested select costs a second query and its row mapping)
    const rows = await this.db.$queryRawUnsafe<DeviceRow[]>(
      `SELECT ${DEVICE_COLUMNS} FROM ${DEVICE_FROM} WHERE d.scenario = $1 AND d.status <> 'revoked' ORDER BY d."enrolledAt", d.id`,
      scenario,
    );
    return rows.map(assignable);
  }

  /** Per device coming online without an assignment, so on the pg pool. */
  async device(id: string): Promise<AssignableDevice | null> {
    const res = await this.pool.query<DeviceRow>(`SELECT ${DEVICE_COLUMNS} FROM ${DEVICE_FROM} WHERE d.id = $1 AND d.status <> 'revoked'`, [
      id,
    ]);
    const row = res.rows[0];
    return row ? assignable(row) : null;
  }

  /** What the device last reported measuring (its reference benchmark and its variants' smoke runs), for its page. */
  async reportedMeasurements(id: string): Promise<{ benchmark: DeviceBenchmark | null; measuredLatency: MeasuredLatency[] }> {
    const res = await this.pool.query<{ measuredLatency: unknown; benchmark: unknown }>(
      `SELECT payload->'measuredLatency' AS "measuredLatency", payload->'benchmark' AS "benchmark" FROM "ReportedState" WHERE "deviceId" = $1`,
      [id],
    );
    const row = res.rows[0];
    return {
      benchmark: DeviceBenchmarkSchema.safeParse(row?.benchmark).data ?? null,
      measuredLatency: MeasuredLatencySchema.array().safeParse(row?.measuredLatency ?? []).data ?? [],
    };
  }

  /**
   * What the fleet measured of these variants per hardware class over the last day: the median of
   * the windows' percentiles, with the number of windows it rests on.
   */
  async fleetLatency(variantIds: string[]): Promise<Map<string, Record<string, LatencyFigures & { windows: number }>>> {
    const out = new Map<string, Record<string, LatencyFigures & { windows: number }>>();
    if (variantIds.length === 0) return out;
    // values, not now() - interval: Postgres prunes the day partitions only by values it knows when planning (window-span.ts)
    const since = new Date(Date.now() - 86_400_000);
    const rows = await this.db.$queryRaw<
      { variantId: string; hardwareClass: string; windows: bigint; p50: number; p95: number; p99: number }[]
    >`
      SELECT t."variantId", hp."hardwareClass", count(*) AS windows,
             percentile_cont(0.5) WITHIN GROUP (ORDER BY t."latencyP50Ms") AS p50,
             percentile_cont(0.5) WITHIN GROUP (ORDER BY t."latencyP95Ms") AS p95,
             percentile_cont(0.5) WITHIN GROUP (ORDER BY t."latencyP99Ms") AS p99
        FROM "TelemetryWindow" t
        JOIN "Device" d ON d.id = t."deviceId"
        JOIN "HardwareProfile" hp ON hp.id = d."hardwareProfileId"
       WHERE t."variantId" = ANY(${variantIds}::text[]) AND t."windowEnd" > ${since} AND t."windowStart" > ${startedAfter(since)}
         AND t."windowStart" < ${startedBefore(new Date())} AND t.inferences > 0
       GROUP BY 1, 2`;
    for (const r of rows) {
      const byClass = out.get(r.variantId) ?? {};
      byClass[r.hardwareClass] = { p50: r.p50, p95: r.p95, p99: r.p99, windows: Number(r.windows) };
      out.set(r.variantId, byClass);
    }
    return out;
  }

  /** Devices of a scenario that an active rollout is changing: a direct assignment must not race it. */
  async devicesInActiveRollouts(scenario: Scenario): Promise<{ deviceId: string; rolloutId: string }[]> {
    return this.db.$queryRaw<{ deviceId: string; rolloutId: string }[]>`
      SELECT rd."deviceId"::text AS "deviceId", r.id::text AS "rolloutId" FROM "RolloutDevice" rd
        JOIN "Rollout" r ON r.id = rd."rolloutId" JOIN "Device" d ON d.id = rd."deviceId"
       WHERE d.scenario = ${scenario} AND r.status = ANY(${[...ACTIVE_ROLLOUT_STATUSES]}::text[]) LIMIT 1000`;
  }

  /** The latest refusal recorded for a device, if it came after its latest assignment. */
  async latestRefusal(deviceId: string): Promise<{ at: string; reason: string } | null> {
    const [refusal, assignment] = await Promise.all([
      this.db.auditEvent.findFirst({
        where: { action: 'assignment.refused', targetType: 'device', targetId: deviceId },
        orderBy: { id: 'desc' },
        select: { at: true, details: true },
      }),
      this.db.assignment.findFirst({ where: { deviceId }, orderBy: { version: 'desc' }, select: { createdAt: true } }),
    ]);
    if (!refusal || (assignment && assignment.createdAt > refusal.at)) return null;
    const reason = (refusal.details as { reason?: unknown }).reason;
    return { at: refusal.at.toISOString(), reason: typeof reason === 'string' ? reason : '' };
  }
}
