import { Inject, Injectable } from '@nestjs/common';
import type { Pool } from 'pg';
import { ACTIVE_ROLLOUT_STATUSES, type DesiredState, type InputSpec } from '@edge-fleet/shared';
import type { Db } from '../infra/prisma.js';
import { PG_POOL, PRISMA } from '../infra/tokens.js';
import { txExecute, txQuery, type AnyTx, type Tx } from '../infra/unit-of-work.js';
import type { VariantChoice } from './desired-state.builder.js';

/** A stored desired state and its device's assignment high-water mark, ready to be signed and published. */
export interface PublishableDesired {
  desired: DesiredState;
  highWaterMark: number;
}

/** One row of the "Assignment" table: a device's desired state under one assignment number. */
export interface NewAssignment {
  deviceId: string;
  version: number;
  modelVariantId: string | null;
  reason: string;
  desired: DesiredState;
}

/** An assignment due for a fresh manifest. */
export interface DueAssignment {
  deviceId: string;
  scenario: string;
  hardwareClass: string;
  modelVariantId: string;
  reason: string;
}

/** What remediation (M14) puts on top of a device's assignment, for the builder to honour. */
export interface DeviceOverride {
  deviceId: string;
  modelVersionId: string;
  baseVariantId: string;
  variantId: string | null;
  maxRateHz: number | null;
  dutyCycle: number | null;
  actionId: string;
}

/** Rows per statement: one JSON parameter, unpacked by Postgres. */
const INSERT_BATCH = 2_000;

/** The "Assignment" table (every desired state ever issued, versioned per device) and what it pins. */
@Injectable()
export class DesiredStateRepository {
  constructor(
    @Inject(PRISMA) private readonly db: Db,
    @Inject(PG_POOL) private readonly pool: Pool,
  ) {}

  /**
   * Stores new assignments in the caller's transaction: one JSON parameter per 2,000 rows, unpacked
   * by Postgres (Prisma's createMany spent most of a 10,000-device assignment, 7.6 s, in its query
   * compiler and argument mapping).
   */
  async insert(tx: AnyTx, rows: readonly NewAssignment[], actor: string): Promise<void> {
    for (let i = 0; i < rows.length; i += INSERT_BATCH) {
      await txExecute(
        tx,
        `INSERT INTO "Assignment" (id, "deviceId", version, "modelVariantId", reason, desired, "createdBy")
         SELECT gen_random_uuid(), x."deviceId", x.version, x."modelVariantId", x.reason, x.desired, $2
           FROM jsonb_to_recordset($1::jsonb) AS x("deviceId" uuid, version int, "modelVariantId" uuid, reason text, desired jsonb)`,
        [JSON.stringify(rows.slice(i, i + INSERT_BATCH)), actor],
      );
    }
  }

  /**
   * The remediation overrides of these devices, leaving out devices in an active rollout: a rollout
   * on the device wins, whatever remediation had put on it.
   */
  async overridesOf(tx: AnyTx, deviceIds: readonly string[]): Promise<Map<string, DeviceOverride>> {
    if (deviceIds.length === 0) return new Map();
    const rows = await txQuery<DeviceOverride>(
      tx,
      `SELECT o."deviceId"::text AS "deviceId", o."modelVersionId"::text AS "modelVersionId", o."baseVariantId"::text AS "baseVariantId",
              o."variantId"::text AS "variantId", o."maxRateHz", o."dutyCycle", o."actionId"::text AS "actionId"
         FROM "DeviceOverride" o
        WHERE o."deviceId" = ANY($1::uuid[])
          AND NOT EXISTS (SELECT 1 FROM "RolloutDevice" rd JOIN "Rollout" r ON r.id = rd."rolloutId"
                           WHERE rd."deviceId" = o."deviceId" AND r.status = ANY($2::text[]))`,
      [deviceIds, [...ACTIVE_ROLLOUT_STATUSES]],
    );
    return new Map(rows.map((r) => [r.deviceId, r]));
  }

  /** Takes the manifest refresh for this transaction, without waiting: false when another replica holds it. */
  async tryLockRefresh(tx: Tx): Promise<boolean> {
    const [lock] = await txQuery<{ ok: boolean }>(tx, `SELECT pg_try_advisory_xact_lock(hashtext('edge-fleet.manifest-refresh')) AS ok`);
    return lock?.ok ?? false;
  }

  /**
   * Current assignments (with a model) issued before `cutoff`, of devices not revoked and in no
   * active rollout: their manifests expire soon.
   */
  async dueForRefresh(tx: Tx, cutoff: Date): Promise<DueAssignment[]> {
    return txQuery<DueAssignment>(
      tx,
      `SELECT a."deviceId"::text AS "deviceId", d.scenario, h."hardwareClass", a."modelVariantId"::text AS "modelVariantId", a.reason
         FROM "Device" d JOIN "Assignment" a ON a."deviceId" = d.id AND a.version = d."assignmentVersion"
         JOIN "HardwareProfile" h ON h.id = d."hardwareProfileId"
        WHERE d.status <> 'revoked' AND a."modelVariantId" IS NOT NULL AND a."createdAt" < $1::timestamptz AT TIME ZONE 'UTC'
          AND NOT EXISTS (SELECT 1 FROM "RolloutDevice" rd JOIN "Rollout" r ON r.id = rd."rolloutId"
                           WHERE rd."deviceId" = d.id AND r.status = ANY($2::text[]))
        LIMIT 10000`,
      [cutoff, [...ACTIVE_ROLLOUT_STATUSES]],
    );
  }

  /** The variant each device's assignment of that number pinned (null: no model); devices without one are absent. */
  async variantsAt(tx: AnyTx, at: readonly { deviceId: string; version: number }[]): Promise<Map<string, string | null>> {
    if (at.length === 0) return new Map();
    const rows = await txQuery<{ deviceId: string; modelVariantId: string | null }>(
      tx,
      `SELECT a."deviceId"::text AS "deviceId", a."modelVariantId"::text AS "modelVariantId" FROM "Assignment" a
         JOIN unnest($1::uuid[], $2::int[]) AS p(id, v) ON a."deviceId" = p.id AND a.version = p.v`,
      [at.map((x) => x.deviceId), at.map((x) => x.version)],
    );
    return new Map(rows.map((r) => [r.deviceId, r.modelVariantId]));
  }

  /** The concrete variants behind these ids (what a rollback or a refresh pins again). */
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

  // The reads below run per device message (a device coming online) or per batch of the fan-out,
  // so they use the pg pool: through Prisma each cost ~1 ms of CPU.

  /**
   * The latest desired state of each of these devices that has one, in one query, with the device's
   * assignment counter now: the high-water mark the published copy is signed with.
   */
  async latestMany(deviceIds: string[]): Promise<PublishableDesired[]> {
    if (deviceIds.length === 0) return [];
    const res = await this.pool.query<PublishableDesired>(
      `SELECT DISTINCT ON (a."deviceId") a.desired, d."assignmentVersion" AS "highWaterMark"
         FROM "Assignment" a JOIN "Device" d ON d.id = a."deviceId"
        WHERE a."deviceId" = ANY($1::uuid[]) ORDER BY a."deviceId", a.version DESC`,
      [deviceIds],
    );
    return res.rows;
  }

  /** A page of devices (not revoked) that have a desired state, by id after `after`: what a key rotation re-signs. */
  async publishedPage(after: string | null, pageSize: number): Promise<string[]> {
    const res = await this.pool.query<{ id: string }>(
      `SELECT id::text AS id FROM "Device"
        WHERE status <> 'revoked' AND "assignmentVersion" > 0 AND ($1::uuid IS NULL OR id > $1::uuid)
        ORDER BY id LIMIT $2`,
      [after, pageSize],
    );
    return res.rows.map((r) => r.id);
  }

  async latest(deviceId: string): Promise<DesiredState | null> {
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
}
