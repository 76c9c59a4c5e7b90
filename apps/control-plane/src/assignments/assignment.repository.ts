import { Inject, Injectable } from '@nestjs/common';
import type { Pool, PoolClient } from 'pg';
import {
  ACTIVE_ROLLOUT_STATUSES,
  DeviceBenchmarkSchema,
  MeasuredLatencySchema,
  VariantMeasurementSchema,
  type DeviceBenchmark,
  type DeviceMeasurements,
  type MeasuredLatency,
  type DesiredState,
  type HardwareProfile,
  type HealthTargets,
  type InputSpec,
  type LatencyFigures,
  type Scenario,
} from '@edge-fleet/shared';
import type { Prisma } from '../generated/prisma/client.js';
import type { Db } from '../infra/prisma.js';
import { withTransaction } from '../infra/pg-transaction.js';
import { measurementsOf } from './device-measurements.js';
import { PG_POOL, PRISMA } from '../infra/tokens.js';

/** A concrete variant a device is given. */
export interface VariantChoice {
  modelId: string;
  modelVersionId: string;
  variantId: string;
  name: string;
  version: string;
  precision: string;
  sha256: string;
  sizeBytes: number;
  inputs: InputSpec[];
}

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
const DEVICE_COLUMNS = `d.id::text AS id, d.name, d.scenario, d."assignmentVersion", h.spec AS "hardwareProfile",
  r.payload->'measuredLatency' AS "measuredLatency", r.payload->'benchmark' AS "benchmark"`;
const DEVICE_FROM = `"Device" d JOIN "HardwareProfile" h ON h.id = d."hardwareProfileId" LEFT JOIN "ReportedState" r ON r."deviceId" = d.id`;

/** A stored desired state and its device's assignment high-water mark, ready to be signed and published. */
export interface PublishableDesired {
  desired: DesiredState;
  highWaterMark: number;
}

/** Builds a device's full desired state for a given assignment version. */
export interface AssignmentItem {
  device: Pick<AssignableDevice, 'id' | 'scenario'>;
  /** null: the device is told to run no model. */
  choice: VariantChoice | null;
  reason: string;
}

/**
 * Gives each device a new, higher-numbered assignment inside the caller's transaction, set-based
 * (a fixed number of statements per 1,000 devices). Returns the desired states to publish.
 */
export async function insertAssignments(
  tx: Prisma.TransactionClient | PoolClient,
  items: readonly AssignmentItem[],
  actor: string,
  build: DesiredBuilder,
): Promise<DesiredState[]> {
  // the same statements on a Prisma transaction (rollouts) or on a pg client (a scenario
  // assignment, whose 20 MB of parameters Prisma took over a second to hand over)
  const sql = async <T>(text: string, params: unknown[]): Promise<T[]> =>
    '$queryRawUnsafe' in tx ? tx.$queryRawUnsafe<T[]>(text, ...params) : ((await tx.query(text, params)).rows as T[]);
  const ids = items.map((c) => c.device.id);
  const bumped = ids.length
    ? await sql<{ id: string; assignmentVersion: number }>(
        'UPDATE "Device" SET "assignmentVersion" = "assignmentVersion" + 1 WHERE id = ANY($1::uuid[]) RETURNING id::text AS id, "assignmentVersion"',
        [ids],
      )
    : [];
  const versionOf = new Map(bumped.map((r) => [r.id, r.assignmentVersion]));
  // the scenario's tier targets travel with the desired state: the device's smoke test and watchdog use them
  const policies = ids.length
    ? await sql<{ scenario: string; latencyTargetMs: number; latencyPercentile: string; errorRateMax: number }>(
        'SELECT scenario, "latencyTargetMs", "latencyPercentile", "errorRateMax" FROM "Policy"',
        [],
      )
    : [];
  const healthOf = new Map(
    policies.map((p) => [
      p.scenario,
      {
        latencyTargetMs: p.latencyTargetMs,
        latencyPercentile: p.latencyPercentile as HealthTargets['latencyPercentile'],
        errorRateMax: p.errorRateMax,
      },
    ]),
  );
  const states: DesiredState[] = [];
  const rows: { deviceId: string; version: number; modelVariantId: string | null; reason: string; desired: DesiredState }[] = [];
  for (const c of items) {
    const version = versionOf.get(c.device.id);
    if (version === undefined) continue; // deleted meanwhile
    const desired = build(c.device.id, version, c.device.scenario, c.choice, c.reason, healthOf.get(c.device.scenario) ?? null);
    states.push(desired);
    rows.push({ deviceId: c.device.id, version, modelVariantId: c.choice?.variantId ?? null, reason: c.reason, desired });
  }
  // one JSON parameter per 2,000 rows, unpacked by Postgres: Prisma's createMany spent most of a
  // 10,000-device assignment (7.6 s) in its query compiler and argument mapping
  for (let i = 0; i < rows.length; i += 2_000) {
    await sql(
      `INSERT INTO "Assignment" (id, "deviceId", version, "modelVariantId", reason, desired, "createdBy")
       SELECT gen_random_uuid(), x."deviceId", x.version, x."modelVariantId", x.reason, x.desired, $2
         FROM jsonb_to_recordset($1::jsonb) AS x("deviceId" uuid, version int, "modelVariantId" uuid, reason text, desired jsonb)`,
      [JSON.stringify(rows.slice(i, i + 2_000)), actor],
    );
  }
  return states;
}

export type DesiredBuilder = (
  deviceId: string,
  version: number,
  scenario: Scenario,
  choice: VariantChoice | null,
  reason: string,
  health: HealthTargets | null,
) => DesiredState;

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
       WHERE t."variantId" = ANY(${variantIds}::text[]) AND t."windowEnd" > now() - interval '1 day' AND t.inferences > 0
       GROUP BY 1, 2`;
    for (const r of rows) {
      const byClass = out.get(r.variantId) ?? {};
      byClass[r.hardwareClass] = { p50: r.p50, p95: r.p95, p99: r.p99, windows: Number(r.windows) };
      out.set(r.variantId, byClass);
    }
    return out;
  }

  /**
   * Writes a new, higher-numbered assignment for each chosen device, points the scenario at the
   * model version, and audits every refusal, in one transaction. Returns the desired states to publish.
   */
  async writeAssignments(
    scenario: Scenario,
    modelVersionId: string | null,
    chosen: { device: AssignableDevice; choice: VariantChoice; reason: string }[],
    refused: { device: AssignableDevice; reason: string }[],
    actor: string,
    build: DesiredBuilder,
  ): Promise<DesiredState[]> {
    // set-based: a fixed number of statements whatever the fleet size, on a pg client (see insertAssignments)
    return withTransaction(this.pool, async (client) => {
      if (modelVersionId)
        await client.query(`UPDATE "Policy" SET "modelVersionId" = $2, "updatedAt" = now() AT TIME ZONE 'UTC' WHERE scenario = $1`, [
          scenario,
          modelVersionId,
        ]);
      const states = await insertAssignments(client, chosen, actor, build);
      const audits: { actor: string; action: string; targetType: string; targetId: string; details: Record<string, unknown> }[] =
        refused.map((r) => ({
          actor,
          action: 'assignment.refused',
          targetType: 'device',
          targetId: r.device.id,
          details: { scenario, modelVersionId, reason: r.reason },
        }));
      if (modelVersionId) {
        audits.push({
          actor,
          action: 'scenario.assign_model',
          targetType: 'scenario',
          targetId: scenario,
          details: { modelVersionId, assigned: states.length, refused: refused.length },
        });
      }
      for (let i = 0; i < audits.length; i += 2_000) {
        await client.query(
          `INSERT INTO "AuditEvent" (actor, action, "targetType", "targetId", details)
           SELECT x.actor, x.action, x."targetType", x."targetId", x.details FROM jsonb_to_recordset($1::jsonb) AS x(actor text, action text, "targetType" text, "targetId" text, details jsonb)`,
          [JSON.stringify(audits.slice(i, i + 2_000))],
        );
      }
      return states;
    });
  }

  /**
   * Gives every device whose current assignment (with a model) was issued before `cutoff` a new
   * assignment to the same variant, with the same reason; skips devices in active rollouts. Runs
   * under a transaction-level advisory lock taken without waiting: another replica doing it means
   * this one returns nothing.
   */
  async refreshAssignments(cutoff: Date, actor: string, build: DesiredBuilder): Promise<DesiredState[]> {
    return this.db.$transaction(
      async (tx) => {
        const [lock] = await tx.$queryRaw<
          { ok: boolean }[]
        >`SELECT pg_try_advisory_xact_lock(hashtext('edge-fleet.manifest-refresh')) AS ok`;
        if (!lock?.ok) return [];
        const due = await tx.$queryRaw<{ deviceId: string; scenario: string; modelVariantId: string; reason: string }[]>`
          SELECT a."deviceId"::text AS "deviceId", d.scenario, a."modelVariantId"::text AS "modelVariantId", a.reason
            FROM "Device" d JOIN "Assignment" a ON a."deviceId" = d.id AND a.version = d."assignmentVersion"
           WHERE d.status <> 'revoked' AND a."modelVariantId" IS NOT NULL AND a."createdAt" < ${cutoff}
             AND NOT EXISTS (SELECT 1 FROM "RolloutDevice" rd JOIN "Rollout" r ON r.id = rd."rolloutId"
                              WHERE rd."deviceId" = d.id AND r.status = ANY(${[...ACTIVE_ROLLOUT_STATUSES]}::text[]))
           LIMIT 10000`;
        if (due.length === 0) return [];
        const choices = await this.choicesOf([...new Set(due.map((d) => d.modelVariantId))]);
        const items = due.flatMap((d) => {
          const choice = choices.get(d.modelVariantId);
          return choice ? [{ device: { id: d.deviceId, scenario: d.scenario as Scenario }, choice, reason: d.reason }] : [];
        });
        return insertAssignments(tx, items, actor, build);
      },
      { timeout: 120_000, maxWait: 10_000 },
    );
  }

  /** Devices of a scenario that an active rollout is changing: a direct assignment must not race it. */
  async devicesInActiveRollouts(scenario: Scenario): Promise<{ deviceId: string; rolloutId: string }[]> {
    return this.db.$queryRaw<{ deviceId: string; rolloutId: string }[]>`
      SELECT rd."deviceId"::text AS "deviceId", r.id::text AS "rolloutId" FROM "RolloutDevice" rd
        JOIN "Rollout" r ON r.id = rd."rolloutId" JOIN "Device" d ON d.id = rd."deviceId"
       WHERE d.scenario = ${scenario} AND r.status = ANY(${[...ACTIVE_ROLLOUT_STATUSES]}::text[]) LIMIT 1000`;
  }

  /** The concrete variants behind these ids (what a rollback pins again). */
  async choicesOf(variantIds: string[]): Promise<Map<string, VariantChoice>> {
    if (variantIds.length === 0) return new Map();
    const rows = await this.db.modelVariant.findMany({
      where: { id: { in: variantIds }, sha256: { not: null }, sizeBytes: { not: null } },
      select: {
        id: true,
        precision: true,
        sha256: true,
        sizeBytes: true,
        modelVersion: { select: { id: true, version: true, inputs: true, model: { select: { id: true, name: true } } } },
      },
    });
    return new Map(
      rows.map((v) => [
        v.id,
        {
          modelId: v.modelVersion.model.id,
          modelVersionId: v.modelVersion.id,
          variantId: v.id,
          name: v.modelVersion.model.name,
          version: v.modelVersion.version,
          precision: v.precision,
          sha256: v.sha256 ?? '',
          sizeBytes: v.sizeBytes ?? 0,
          inputs: v.modelVersion.inputs as InputSpec[],
        },
      ]),
    );
  }

  // The reads and writes below run per device message (a device coming online, its reports) or per
  // batch of the fan-out, so they use the pg pool: through Prisma each cost ~1 ms of CPU.

  /**
   * The latest desired state of each of these devices that has one, in one query, with the device's
   * assignment counter now: the high-water mark the published copy is signed with.
   */
  async latestDesiredMany(deviceIds: string[]): Promise<PublishableDesired[]> {
    if (deviceIds.length === 0) return [];
    const res = await this.pool.query<PublishableDesired>(
      `SELECT DISTINCT ON (a."deviceId") a.desired, d."assignmentVersion" AS "highWaterMark"
         FROM "Assignment" a JOIN "Device" d ON d.id = a."deviceId"
        WHERE a."deviceId" = ANY($1::uuid[]) ORDER BY a."deviceId", a.version DESC`,
      [deviceIds],
    );
    return res.rows;
  }

  async latestDesired(deviceId: string): Promise<DesiredState | null> {
    const res = await this.pool.query<{ desired: DesiredState }>(
      'SELECT desired FROM "Assignment" WHERE "deviceId" = $1 ORDER BY version DESC LIMIT 1',
      [deviceId],
    );
    return res.rows[0]?.desired ?? null;
  }

  /** Why each device runs what it runs: the reason of its latest assignment. */
  async latestReasons(deviceIds: string[]): Promise<Map<string, string>> {
    if (deviceIds.length === 0) return new Map();
    const rows = await this.db.$queryRaw<{ deviceId: string; reason: string }[]>`
      SELECT DISTINCT ON ("deviceId") "deviceId", reason FROM "Assignment"
       WHERE "deviceId" = ANY(${deviceIds}::uuid[]) ORDER BY "deviceId", version DESC`;
    return new Map(rows.map((r) => [r.deviceId, r.reason]));
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

  /**
   * Stores a device's reported state unless a newer report is already stored: MQTT handlers run
   * concurrently, so two reports a few milliseconds apart may arrive here out of order.
   */
  /**
   * What a report is checked against: the highest assignment number issued to the device, and
   * whether its active variant is a variant of that model version. Null: no such device.
   */
  async reportRefs(
    deviceId: string,
    active: { variantId: string; modelVersionId: string } | null,
  ): Promise<{ assignmentVersion: number; activeExists: boolean } | null> {
    const r = await this.pool.query<{ assignmentVersion: number; activeExists: boolean }>(
      `SELECT d."assignmentVersion",
              EXISTS (SELECT 1 FROM "ModelVariant" v WHERE v.id = $2::uuid AND v."modelVersionId" = $3::uuid) AS "activeExists"
         FROM "Device" d WHERE d.id = $1::uuid`,
      [deviceId, active?.variantId ?? null, active?.modelVersionId ?? null],
    );
    return r.rows[0] ?? null;
  }

  async saveReported(
    deviceId: string,
    r: {
      bootId: string;
      phase: string;
      appliedAssignmentVersion: number | null;
      activeVariantId: string | null;
      activeSha256: string | null;
      payload: unknown;
      reportedAt: Date;
    },
  ): Promise<void> {
    await this.pool.query(
      `INSERT INTO "ReportedState" ("deviceId", "bootId", "phase", "appliedAssignmentVersion", "activeVariantId", "activeSha256", "payload", "reportedAt", "receivedAt")
       VALUES ($1::uuid, $2, $3, $4, $5, $6, $7::jsonb, $8::timestamptz AT TIME ZONE 'UTC', now())
       ON CONFLICT ("deviceId") DO UPDATE SET "bootId" = EXCLUDED."bootId", "phase" = EXCLUDED."phase",
         "appliedAssignmentVersion" = EXCLUDED."appliedAssignmentVersion", "activeVariantId" = EXCLUDED."activeVariantId",
         "activeSha256" = EXCLUDED."activeSha256", "payload" = EXCLUDED."payload", "reportedAt" = EXCLUDED."reportedAt", "receivedAt" = now()
       WHERE "ReportedState"."reportedAt" <= EXCLUDED."reportedAt"`,
      [deviceId, r.bootId, r.phase, r.appliedAssignmentVersion, r.activeVariantId, r.activeSha256, JSON.stringify(r.payload), r.reportedAt],
    );
  }
}
