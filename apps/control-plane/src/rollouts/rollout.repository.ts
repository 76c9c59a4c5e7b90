import { Inject, Injectable } from '@nestjs/common';
import type { Pool } from 'pg';
import {
  ACTIVE_ROLLOUT_STATUSES,
  type BaselineFigures,
  type DeviceEvidence,
  type GateResult,
  type HardwareProfile,
  type RolloutTarget,
  type Scenario,
} from '@edge-fleet/shared';
import type { AssignableDevice } from '../assignments/assignment.repository.js';
import { measurementsOf } from '../assignments/device-measurements.js';
import { Prisma } from '../generated/prisma/client.js';
import type { Db } from '../infra/prisma.js';
import { PG_POOL, PRISMA } from '../infra/tokens.js';

export type Tx = Prisma.TransactionClient;

export interface TargetDevice extends AssignableDevice {
  hardwareClass: string;
}

export interface RolloutRow {
  id: string;
  name: string;
  modelVersionId: string;
  target: RolloutTarget;
  plan: unknown;
  status: string;
  currentWave: number;
  step: number;
  reason: string;
  createdAt: Date;
  createdBy: string;
  updatedAt: Date;
}

export interface WaveRow {
  rolloutId: string;
  index: number;
  soakSeconds: number;
  requireApproval: boolean;
  status: string;
  startedAt: Date | null;
  soakUntil: Date | null;
  evaluatedAt: Date | null;
  gate: unknown;
}

const ACTIVE = [...ACTIVE_ROLLOUT_STATUSES];

/** The rollout tables: every write here runs inside the caller's transaction. */
@Injectable()
export class RolloutRepository {
  constructor(
    @Inject(PRISMA) readonly db: Db,
    @Inject(PG_POOL) private readonly pool: Pool,
  ) {}

  /** Devices (not revoked) matching every filter of the target. */
  async targetDevices(t: RolloutTarget, onlyIds?: string[], db: Tx | Db = this.db): Promise<TargetDevice[]> {
    const rows = await db.$queryRaw<
      {
        id: string;
        name: string;
        scenario: string;
        assignmentVersion: number;
        spec: HardwareProfile;
        hardwareClass: string;
        measuredLatency: unknown;
        benchmark: unknown;
      }[]
    >`
      SELECT d.id::text AS id, d.name, d.scenario, d."assignmentVersion", hp.spec, hp."hardwareClass",
             r.payload->'measuredLatency' AS "measuredLatency", r.payload->'benchmark' AS "benchmark"
        FROM "Device" d JOIN "HardwareProfile" hp ON hp.id = d."hardwareProfileId"
        LEFT JOIN "ReportedState" r ON r."deviceId" = d.id
       WHERE d.status <> 'revoked'
         AND (${t.scenario ?? null}::text IS NULL OR d.scenario = ${t.scenario ?? null}::text)
         AND (${t.labels ? JSON.stringify(t.labels) : null}::jsonb IS NULL OR d.labels @> ${t.labels ? JSON.stringify(t.labels) : null}::jsonb)
         AND (${t.deviceIds ?? null}::uuid[] IS NULL OR d.id = ANY(${t.deviceIds ?? null}::uuid[]))
         AND (${onlyIds ?? null}::uuid[] IS NULL OR d.id = ANY(${onlyIds ?? null}::uuid[]))
       ORDER BY d."enrolledAt", d.id`;
    return rows.map((r) => ({
      id: r.id,
      name: r.name,
      scenario: r.scenario as Scenario,
      assignmentVersion: r.assignmentVersion,
      hardwareProfile: r.spec,
      hardwareClass: r.hardwareClass,
      // a rollout predicts from what each device measured, as the scenario assignment does
      measurements: measurementsOf(r.measuredLatency, r.benchmark),
    }));
  }

  /** Which of these ids are not enrolled, active devices. */
  async unknownDevices(ids: string[]): Promise<string[]> {
    const known = await this.db.device.findMany({ where: { id: { in: ids }, status: { not: 'revoked' } }, select: { id: true } });
    const set = new Set(known.map((d) => d.id));
    return ids.filter((id) => !set.has(id));
  }

  /** Serialises rollout creation and joining, so two overlapping rollouts cannot both pass the check. */
  async lockMembership(tx: Tx): Promise<void> {
    await tx.$executeRaw`SET LOCAL lock_timeout = '10s'`;
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext('edge-fleet.rollout-membership'))`;
  }

  async conflicts(tx: Tx, deviceIds: string[]): Promise<{ deviceId: string; rolloutId: string; name: string }[]> {
    if (deviceIds.length === 0) return [];
    return tx.$queryRaw`
      SELECT rd."deviceId"::text AS "deviceId", r.id::text AS "rolloutId", r.name FROM "RolloutDevice" rd JOIN "Rollout" r ON r.id = rd."rolloutId"
       WHERE r.status = ANY(${ACTIVE}::text[]) AND rd."deviceId" = ANY(${deviceIds}::uuid[]) LIMIT 1000`;
  }

  /**
   * Locks the rollout row for this transaction. `wait: false` fails at once when another holds it
   * (a step job then retries instead of holding a connection while it waits); otherwise the wait is
   * bounded by a 5 s lock timeout.
   */
  async lockRollout(tx: Tx, id: string, wait = true): Promise<RolloutRow | null> {
    if (wait) await tx.$executeRaw`SET LOCAL lock_timeout = '5s'`;
    const rows = await tx.$queryRaw<
      RolloutRow[]
    >`SELECT id::text AS id, name, "modelVersionId"::text AS "modelVersionId", target, plan, status, "currentWave", step, reason, "createdAt", "createdBy", "updatedAt" FROM "Rollout" WHERE id = ${id}::uuid FOR UPDATE ${wait ? Prisma.empty : Prisma.raw('NOWAIT')}`;
    return rows[0] ?? null;
  }

  async waves(db: Tx | Db, rolloutId: string): Promise<WaveRow[]> {
    return db.rolloutWave.findMany({ where: { rolloutId }, orderBy: { index: 'asc' } });
  }

  /** Active rollouts (newest first) with the target they were created with. */
  async activeRollouts(db: Tx | Db): Promise<RolloutRow[]> {
    return (await db.rollout.findMany({ where: { status: { in: ACTIVE } }, orderBy: { createdAt: 'desc' } })) as RolloutRow[];
  }

  async runningRollouts(): Promise<RolloutRow[]> {
    return (await this.db.rollout.findMany({ where: { status: 'running' } })) as RolloutRow[];
  }

  /**
   * What each device of the wave showed since it applied the new variant (windows that opened
   * after its report, so none mixes old and new runs), latency at its scenario's tier percentile.
   */
  async evidence(rolloutId: string, wave: number): Promise<(Omit<DeviceEvidence, 'policy'> & { scenario: Scenario })[]> {
    const rows = await this.db.$queryRaw<
      {
        deviceId: string;
        hardwareClass: string;
        scenario: string;
        state: string;
        reason: string;
        late: boolean;
        windows: bigint;
        inferences: bigint | null;
        errors: bigint | null;
        latency: number | null;
        power: number | null;
        powerSource: string | null;
      }[]
    >`
      SELECT rd."deviceId"::text AS "deviceId", hp."hardwareClass", d.scenario, rd.state, rd.reason, rd.late,
             count(t.id) AS windows, sum(t.inferences) AS inferences, sum(t.errors) AS errors,
             percentile_cont(0.5) WITHIN GROUP (ORDER BY CASE p."latencyPercentile" WHEN 'p50' THEN t."latencyP50Ms" WHEN 'p95' THEN t."latencyP95Ms" ELSE t."latencyP99Ms" END) AS latency,
             avg(t."powerW") AS power, max(t."powerSource") AS "powerSource"
        FROM "RolloutDevice" rd
        JOIN "Device" d ON d.id = rd."deviceId"
        JOIN "HardwareProfile" hp ON hp.id = d."hardwareProfileId"
        JOIN "Policy" p ON p.scenario = d.scenario
        LEFT JOIN "TelemetryWindow" t ON t."deviceId" = rd."deviceId" AND t."variantId" = rd."targetVariantId"::text
             AND t."windowStart" >= COALESCE(rd."appliedAt", rd."notifiedAt") AND t.inferences > 0
       WHERE rd."rolloutId" = ${rolloutId}::uuid AND rd.wave = ${wave} AND rd.state IN ('notified', 'applied', 'failed')
       GROUP BY rd."deviceId", hp."hardwareClass", d.scenario, rd.state, rd.reason, rd.late`;
    return rows.map((r) => ({
      deviceId: r.deviceId,
      hardwareClass: r.hardwareClass,
      scenario: r.scenario as Scenario,
      state: r.state,
      failure: r.state === 'failed' ? r.reason : null,
      late: r.late,
      windows: Number(r.windows),
      inferences: Number(r.inferences ?? 0),
      errors: Number(r.errors ?? 0),
      latencyMs: r.latency,
      powerW: r.power,
      powerSource: r.powerSource,
    }));
  }

  /** Devices of the rollout still on the old model (later waves), per hardware class, over the same period. */
  async baseline(rolloutId: string, since: Date): Promise<Map<string, BaselineFigures>> {
    const rows = await this.db.$queryRaw<
      { hardwareClass: string; devices: bigint; latency: number | null; inferences: bigint | null; errors: bigint | null }[]
    >`
      SELECT hp."hardwareClass", count(DISTINCT t."deviceId") AS devices,
             percentile_cont(0.5) WITHIN GROUP (ORDER BY CASE p."latencyPercentile" WHEN 'p50' THEN t."latencyP50Ms" WHEN 'p95' THEN t."latencyP95Ms" ELSE t."latencyP99Ms" END) AS latency,
             sum(t.inferences) AS inferences, sum(t.errors) AS errors
        FROM "RolloutDevice" rd
        JOIN "Device" d ON d.id = rd."deviceId"
        JOIN "HardwareProfile" hp ON hp.id = d."hardwareProfileId"
        JOIN "Policy" p ON p.scenario = d.scenario
        JOIN "TelemetryWindow" t ON t."deviceId" = rd."deviceId" AND t."windowEnd" > ${since} AND t.inferences > 0
       WHERE rd."rolloutId" = ${rolloutId}::uuid AND rd.state = 'pending'
       GROUP BY hp."hardwareClass"`;
    return new Map(
      rows.map((r) => [
        r.hardwareClass,
        { devices: Number(r.devices), latencyMs: r.latency, errorRate: r.inferences ? Number(r.errors ?? 0) / Number(r.inferences) : null },
      ]),
    );
  }

  async saveGate(
    tx: Tx,
    rolloutId: string,
    wave: number,
    status: string,
    gate: GateResult,
    figures: Map<string, Prisma.InputJsonValue>,
  ): Promise<void> {
    await tx.rolloutWave.update({
      where: { rolloutId_index: { rolloutId, index: wave } },
      data: { status, gate: gate as unknown as Prisma.InputJsonValue, evaluatedAt: new Date(gate.evaluatedAt) },
    });
    const ids = [...figures.keys()];
    if (ids.length === 0) return;
    await tx.$executeRaw`
      UPDATE "RolloutDevice" rd SET figures = f.figures
        FROM unnest(${ids}::uuid[], ${ids.map((id) => JSON.stringify(figures.get(id)))}::jsonb[]) AS f("deviceId", figures)
       WHERE rd."rolloutId" = ${rolloutId}::uuid AND rd."deviceId" = f."deviceId"`;
  }

  /**
   * A device's report moves its rollout state: failed when it reports a failed update of the
   * rollout's assignment (also after applying it: the local watchdog sent it back), applied when it
   * runs the rollout's variant at (or past) that assignment.
   */
  /**
   * Runs for every reported state of every device, so on the pg pool: through Prisma each statement
   * cost ~1 ms of control-plane CPU, which bounded how fast 10,000 devices' acknowledgements landed.
   */
  async recordReport(
    deviceId: string,
    r: {
      applied: number | null;
      activeVariantId: string | null;
      lastUpdate: { assignmentVersion: number; outcome: string; reasonCode?: string | undefined; message?: string | undefined } | null;
    },
  ): Promise<void> {
    const lu = r.lastUpdate;
    if (lu?.outcome === 'failed') {
      const why = `${lu.reasonCode ?? 'failed'}${lu.message ? `: ${lu.message}` : ''}`.slice(0, 2_000);
      await this.pool.query(
        `UPDATE "RolloutDevice" rd SET state = 'failed', reason = $2
           FROM "Rollout" r
          WHERE r.id = rd."rolloutId" AND r.status = ANY($3::text[]) AND rd."deviceId" = $1::uuid
            AND rd.state IN ('notified', 'applied') AND rd."assignmentVersion" = $4`,
        [deviceId, why, ACTIVE, lu.assignmentVersion],
      );
    }
    if (r.applied !== null && r.activeVariantId !== null) {
      await this.pool.query(
        `UPDATE "RolloutDevice" rd SET state = 'applied', "appliedAt" = now()
           FROM "Rollout" r
          WHERE r.id = rd."rolloutId" AND r.status = ANY($2::text[]) AND rd."deviceId" = $1::uuid
            AND rd.state = 'notified' AND rd."assignmentVersion" <= $3 AND rd."targetVariantId"::text = $4`,
        [deviceId, ACTIVE, r.applied, r.activeVariantId],
      );
    }
  }

  /** Device counts by wave and state. */
  async counts(rolloutId: string): Promise<{ wave: number; state: string; n: number }[]> {
    const rows = await this.db.rolloutDevice.groupBy({ by: ['wave', 'state'], where: { rolloutId }, _count: { _all: true } });
    return rows.map((r) => ({ wave: r.wave, state: r.state, n: r._count._all }));
  }

  /** How many rollouts are in each status (for /metrics). */
  async countByStatus(): Promise<Record<string, number>> {
    const rows = await this.db.rollout.groupBy({ by: ['status'], _count: { _all: true } });
    return Object.fromEntries(rows.map((r) => [r.status, r._count._all]));
  }
}
