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
   * What each report is checked against, in the reports' order: the highest assignment number
   * issued to its device, and whether its active variant is a variant of that model version. Null:
   * no such device. One statement for any number of reports.
   */
  async reportRefs(
    reports: readonly { deviceId: string; active: { variantId: string; modelVersionId: string } | null }[],
  ): Promise<({ assignmentVersion: number; activeExists: boolean } | null)[]> {
    const r = await this.pool.query<{ ord: string; assignmentVersion: number | null; activeExists: boolean }>(
      `SELECT u.ord::text AS ord, d."assignmentVersion",
              EXISTS (SELECT 1 FROM "ModelVariant" v WHERE v.id = u.variant AND v."modelVersionId" = u.version) AS "activeExists"
         FROM unnest($1::uuid[], $2::uuid[], $3::uuid[]) WITH ORDINALITY AS u(device, variant, version, ord)
         LEFT JOIN "Device" d ON d.id = u.device`,
      [
        reports.map((x) => x.deviceId),
        reports.map((x) => x.active?.variantId ?? null),
        reports.map((x) => x.active?.modelVersionId ?? null),
      ],
    );
    const out: ({ assignmentVersion: number; activeExists: boolean } | null)[] = reports.map(() => null);
    for (const row of r.rows) {
      if (row.assignmentVersion !== null)
        out[Number(row.ord) - 1] = { assignmentVersion: row.assignmentVersion, activeExists: row.activeExists };
    }
    return out;
  }

  /**
   * Stores each device's reported state unless a newer report is already stored: MQTT handlers run
   * concurrently, so two reports a few milliseconds apart may arrive here out of order. One
   * statement for any number of devices, each at most once (ON CONFLICT cannot touch a row twice).
   */
  async saveReported(reports: readonly (StoredReport & { deviceId: string })[]): Promise<void> {
    if (reports.length === 0) return;
    await this.pool.query(
      `INSERT INTO "ReportedState" ("deviceId", "bootId", "phase", "appliedAssignmentVersion", "activeVariantId", "activeSha256", "payload", "reportedAt", "receivedAt")
       SELECT u.device, u.boot, u.phase, u.applied, u.variant, u.sha, u.payload, u.at AT TIME ZONE 'UTC', now()
         FROM unnest($1::uuid[], $2::text[], $3::text[], $4::int4[], $5::text[], $6::text[], $7::jsonb[], $8::timestamptz[])
           AS u(device, boot, phase, applied, variant, sha, payload, at)
       ON CONFLICT ("deviceId") DO UPDATE SET "bootId" = EXCLUDED."bootId", "phase" = EXCLUDED."phase",
         "appliedAssignmentVersion" = EXCLUDED."appliedAssignmentVersion", "activeVariantId" = EXCLUDED."activeVariantId",
         "activeSha256" = EXCLUDED."activeSha256", "payload" = EXCLUDED."payload", "reportedAt" = EXCLUDED."reportedAt", "receivedAt" = now()
       WHERE "ReportedState"."reportedAt" <= EXCLUDED."reportedAt"`,
      [
        reports.map((r) => r.deviceId),
        reports.map((r) => r.bootId),
        reports.map((r) => r.phase),
        reports.map((r) => r.appliedAssignmentVersion),
        reports.map((r) => r.activeVariantId),
        reports.map((r) => r.activeSha256),
        reports.map((r) => JSON.stringify(r.payload)),
        reports.map((r) => r.reportedAt),
      ],
    );
  }
}
