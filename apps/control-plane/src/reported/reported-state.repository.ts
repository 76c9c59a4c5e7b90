import { Inject, Injectable } from '@nestjs/common';
import type { Pool } from 'pg';
import { PG_POOL } from '../infra/tokens.js';

/** A report as stored: the fields the control plane reads, and the whole payload. */
export interface StoredReport {
  bootId: string;
  phase: string;
  appliedAssignmentVersion: number | null;
  activeVariantId: string | null;
  activeSha256: string | null;
  payload: unknown;
  reportedAt: Date;
}

/**
 * The "ReportedState" table: each device's latest report. Runs per device message, so on the pg
 * pool: through Prisma each statement cost ~1 ms of CPU.
 */
@Injectable()
export class ReportedStateRepository {
  constructor(@Inject(PG_POOL) private readonly pool: Pool) {}

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

  /**
   * Stores a device's reported state unless a newer report is already stored: MQTT handlers run
   * concurrently, so two reports a few milliseconds apart may arrive here out of order.
   */
  async saveReported(deviceId: string, r: StoredReport): Promise<void> {
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
