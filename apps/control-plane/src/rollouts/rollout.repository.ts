import { Inject, Injectable } from '@nestjs/common';
import { ACTIVE_ROLLOUT_STATUSES, type HardwareProfile, type RolloutTarget, type Scenario } from '@edge-fleet/shared';
import { limits, rolloutColumns, scopeCondition, sqlParams, type DeviceScope } from '../infra/scope-sql.js';
import type { AssignableDevice } from '../assignments/assignment.repository.js';
import { measurementsOf } from '../assignments/device-measurements.js';
import { Prisma } from '../generated/prisma/client.js';
import type { JsonValue } from '../infra/json.js';
import type { Db } from '../infra/prisma.js';
import { PRISMA } from '../infra/tokens.js';
import { prismaOf, type Tx } from '../infra/unit-of-work.js';

export type TargetDevice = AssignableDevice;

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

/** The most rollouts a list shows. */
const LIST_LIMIT = 200;

/** A rollout row with the name of its model version, as the views show it. */
export interface RolloutWithModel extends RolloutRow {
  model: string;
}

export interface NewRollout {
  name: string;
  modelVersionId: string;
  target: RolloutTarget;
  plan: JsonValue;
  createdBy: string;
  waves: { soakSeconds: number; requireApproval: boolean }[];
}

/** What a step changes on the rollout row; `step` always moves on. */
export interface RolloutChange {
  step: number;
  status?: string;
  reason?: string;
  currentWave?: number;
}

export interface WaveChange {
  status?: string;
  startedAt?: Date;
  soakUntil?: Date;
  requireApproval?: boolean;
}

const ACTIVE = [...ACTIVE_ROLLOUT_STATUSES];
const WITH_MODEL = { modelVersion: { select: { version: true, model: { select: { name: true } } } } } as const;

/** The "Rollout" and "RolloutWave" tables; every write runs inside the caller's transaction. */
@Injectable()
export class RolloutRepository {
  constructor(@Inject(PRISMA) private readonly db: Db) {}

  /** Devices (not revoked) matching every filter of the target. */
  async targetDevices(t: RolloutTarget, onlyIds?: string[], tx?: Tx): Promise<TargetDevice[]> {
    const db = tx ? prismaOf(tx) : this.db;
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
    const db = prismaOf(tx);
    await db.$executeRaw`SET LOCAL lock_timeout = '10s'`;
    await db.$executeRaw`SELECT pg_advisory_xact_lock(hashtext('edge-fleet.rollout-membership'))`;
  }

  /**
   * Locks the rollout row for this transaction. `wait: false` fails at once when another holds it
   * (a step job then retries instead of holding a connection while it waits); otherwise the wait is
   * bounded by a 5 s lock timeout.
   */
  async lockRollout(tx: Tx, id: string, wait = true): Promise<RolloutRow | null> {
    const db = prismaOf(tx);
    if (wait) await db.$executeRaw`SET LOCAL lock_timeout = '5s'`;
    const rows = await db.$queryRaw<
      RolloutRow[]
    >`SELECT id::text AS id, name, "modelVersionId"::text AS "modelVersionId", target, plan, status, "currentWave", step, reason, "createdAt", "createdBy", "updatedAt" FROM "Rollout" WHERE id = ${id}::uuid FOR UPDATE ${wait ? Prisma.empty : Prisma.raw('NOWAIT')}`;
    return rows[0] ?? null;
  }

  async waves(rolloutId: string, tx?: Tx): Promise<WaveRow[]> {
    const db = tx ? prismaOf(tx) : this.db;
    return db.rolloutWave.findMany({ where: { rolloutId }, orderBy: { index: 'asc' } });
  }

  /** Active rollouts (newest first) with the target they were created with. */
  async activeRollouts(): Promise<RolloutRow[]> {
    return (await this.db.rollout.findMany({ where: { status: { in: ACTIVE } }, orderBy: { createdAt: 'desc' } })) as RolloutRow[];
  }

  async runningRollouts(): Promise<RolloutRow[]> {
    return (await this.db.rollout.findMany({ where: { status: 'running' } })) as RolloutRow[];
  }

  /** Creates the rollout (running, at step 1) and its waves; returns its id. */
  async create(tx: Tx, r: NewRollout): Promise<string> {
    const db = prismaOf(tx);
    const { id } = await db.rollout.create({
      data: {
        name: r.name,
        modelVersionId: r.modelVersionId,
        target: r.target,
        plan: r.plan as Prisma.InputJsonValue,
        status: 'running',
        step: 1,
        createdBy: r.createdBy,
        reason: 'started',
      },
      select: { id: true },
    });
    await db.rolloutWave.createMany({
      data: r.waves.map((w, index) => ({ rolloutId: id, index, soakSeconds: w.soakSeconds, requireApproval: w.requireApproval })),
    });
    return id;
  }

  async update(tx: Tx, id: string, change: RolloutChange): Promise<void> {
    await prismaOf(tx).rollout.update({ where: { id }, data: change });
  }

  async updateWave(tx: Tx, rolloutId: string, index: number, change: WaveChange): Promise<void> {
    await prismaOf(tx).rolloutWave.update({ where: { rolloutId_index: { rolloutId, index } }, data: change });
  }

  /** Every wave that reached its devices is undone (a pending wave stays pending: it never started). */
  async markStartedWavesRolledBack(tx: Tx, rolloutId: string): Promise<void> {
    await prismaOf(tx).rolloutWave.updateMany({
      where: { rolloutId, status: { in: ['soaking', 'passed', 'failed'] } },
      data: { status: 'rolled_back' },
    });
  }

  /** A wave's verdict: its status and the gate result that decided it. */
  async saveGate(tx: Tx, rolloutId: string, wave: number, status: string, gate: JsonValue, evaluatedAt: Date): Promise<void> {
    await prismaOf(tx).rolloutWave.update({
      where: { rolloutId_index: { rolloutId, index: wave } },
      data: { status, gate: gate as Prisma.InputJsonValue, evaluatedAt },
    });
  }

  /** The latest 200 rollouts, newest first, with their number of waves. */
  /**
   * The latest 200 rollouts, of those whose target lies in `scope` (none: all): picked in SQL before
   * the cap, so a scoped token sees its own even behind 200 newer ones outside its scope.
   */
  async list(scope?: DeviceScope): Promise<(RolloutWithModel & { waves: number })[]> {
    let ids: string[] | undefined;
    if (limits(scope)) {
      const q = sqlParams();
      const where = scopeCondition(scope, rolloutColumns('r'), q.param);
      const picked = await this.db.$queryRawUnsafe<{ id: string }[]>(
        `SELECT r.id::text AS id FROM "Rollout" r WHERE ${where} ORDER BY r."createdAt" DESC LIMIT ${LIST_LIMIT}`,
        ...q.params,
      );
      ids = picked.map((r) => r.id);
    }
    const rows = await this.db.rollout.findMany({
      ...(ids ? { where: { id: { in: ids } } } : {}),
      orderBy: { createdAt: 'desc' },
      take: LIST_LIMIT,
      include: { ...WITH_MODEL, _count: { select: { waves: true } } },
    });
    return rows.map(({ modelVersion, _count, ...r }) => ({
      ...(r as RolloutRow),
      model: `${modelVersion.model.name} ${modelVersion.version}`,
      waves: _count.waves,
    }));
  }

  async find(id: string): Promise<RolloutWithModel | null> {
    const r = await this.db.rollout.findUnique({ where: { id }, include: WITH_MODEL });
    if (!r) return null;
    const { modelVersion, ...row } = r;
    return { ...(row as RolloutRow), model: `${modelVersion.model.name} ${modelVersion.version}` };
  }

  /** How many rollouts are in each status (for /metrics). */
  async countByStatus(): Promise<Record<string, number>> {
    const rows = await this.db.rollout.groupBy({ by: ['status'], _count: { _all: true } });
    return Object.fromEntries(rows.map((r) => [r.status, r._count._all]));
  }
}
