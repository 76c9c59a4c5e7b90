import { Inject, Injectable } from '@nestjs/common';
import { ACTIVE_ROLLOUT_STATUSES, ScenarioSchema, type Precision } from '@edge-fleet/shared';
import {
  REMEDIATION_SETTINGS_FIELDS,
  type RemediationActionView,
  type RemediationKind,
  type RemediationListQuery,
  type RemediationSettings,
  type RemediationSettingsView,
  type RemediationStatus,
} from '@edge-fleet/shared/api';
import type { Pool } from 'pg';
import { iso } from '../alerts/sql.js';
import { deviceColumns, scopeCondition, type DeviceScope } from '../infra/scope-sql.js';
import { appendAudit, appendAudits, type AuditInput } from '../infra/audit.repository.js';
import type { JsonValue } from '../infra/json.js';
import { PG_POOL } from '../infra/tokens.js';
import { txExecute, txQuery, type AnyTx } from '../infra/unit-of-work.js';
import { REMEDIABLE_METRICS, type ActionInfo, type AlertInfo, type OverrideState, type VariantInfo } from './remediation-planner.js';

/** A scenario without a settings row: off, with these limits. */
export const DEFAULT_REMEDIATION: RemediationSettings = {
  mode: 'off',
  maxDevicesPerHour: 10,
  maxPercentPerHour: 10,
  holdOffSeconds: 900,
  checkWindowSeconds: 300,
  rateFactor: 0.5,
  dutyCycle: 0.5,
};

const SETTINGS = REMEDIATION_SETTINGS_FIELDS;
const REMEDY_KINDS: readonly RemediationKind[] = ['precision_step_down', 'smaller_variant', 'rate_reduction', 'low_power'];
const OPEN_STATUSES: readonly RemediationStatus[] = ['pending', 'applied', 'helped', 'escalated'];

/** A device remediation looks at, with what it runs and what its policy allows. */
export interface DeviceRow {
  deviceId: string;
  scenario: string;
  hardwareClass: string;
  precisions: Precision[];
  modelVersionId: string | null;
  variantId: string | null;
  inRollout: boolean;
  precisionOrder: Precision[] | null;
  accuracyFloor: number | null;
}

export interface NewAction {
  id: string;
  deviceId: string;
  scenario: string;
  kind: RemediationKind;
  status: RemediationStatus;
  rule: string;
  alertId: string | null;
  episode: Date | null;
  reason: string;
  before: OverrideState;
  after: OverrideState;
  figuresBefore: Record<string, JsonValue>;
  undoes: string | null;
  createdAt: Date;
  appliedAt: Date | null;
  checkAt: Date | null;
  decidedBy: string | null;
}

const ACTION_VIEW = `a.id::text AS id, a."deviceId"::text AS "deviceId", d.name AS "deviceName", a.scenario, a.kind, a.status, a.rule,
  a."alertId"::text AS "alertId", a.reason, a.before, a.after, a."figuresBefore", a."figuresAfter", a.undoes::text AS undoes,
  ${iso('a."createdAt"')} AS "createdAt", ${iso('a."appliedAt"')} AS "appliedAt", ${iso('a."checkAt"')} AS "checkAt",
  a."decidedBy", ${iso('a."decidedAt"')} AS "decidedAt", ${iso('a."outcomeAt"')} AS "outcomeAt"`;

/** The only writer of "RemediationSetting", "RemediationAction" and "DeviceOverride"; every change is audited in its transaction. */
@Injectable()
export class RemediationRepository {
  constructor(@Inject(PG_POOL) private readonly pool: Pool) {}

  /** Every scenario's settings (defaults where none were written). */
  async settings(tx?: AnyTx): Promise<RemediationSettingsView[]> {
    const sql = `SELECT scenario, ${SETTINGS.map((c) => `"${c}"`).join(', ')}, "updatedBy", ${iso('"updatedAt"')} AS "updatedAt" FROM "RemediationSetting"`;
    const rows = tx ? await txQuery<RemediationSettingsView>(tx, sql) : (await this.pool.query<RemediationSettingsView>(sql)).rows;
    return ScenarioSchema.options.map(
      (scenario) => rows.find((r) => r.scenario === scenario) ?? { scenario, ...DEFAULT_REMEDIATION, updatedBy: null, updatedAt: null },
    );
  }

  async saveSettings(tx: AnyTx, scenario: string, s: RemediationSettings, actor: string): Promise<void> {
    const [before] = await txQuery<Record<string, JsonValue>>(tx, `SELECT * FROM "RemediationSetting" WHERE scenario = $1 FOR UPDATE`, [
      scenario,
    ]);
    await txExecute(
      tx,
      `INSERT INTO "RemediationSetting" (scenario, ${SETTINGS.map((c) => `"${c}"`).join(', ')}, "updatedBy", "updatedAt")
       VALUES ($1, ${SETTINGS.map((_, i) => `$${i + 2}`).join(', ')}, $${SETTINGS.length + 2}, now())
       ON CONFLICT (scenario) DO UPDATE SET ${SETTINGS.map((c) => `"${c}" = EXCLUDED."${c}"`).join(', ')},
         "updatedBy" = EXCLUDED."updatedBy", "updatedAt" = now()`,
      [scenario, ...SETTINGS.map((c) => s[c]), actor],
    );
    await appendAudit(tx, {
      actor,
      action: 'remediation.settings',
      targetType: 'scenario',
      targetId: scenario,
      details: { before: before ?? null, after: s },
    });
  }

  /** Waits for the pass lock: an operator's decision and a pass never interleave on one device. */
  async lockPass(tx: AnyTx): Promise<void> {
    await txQuery(tx, `SELECT pg_advisory_xact_lock(hashtext('edge-fleet.remediation'))::text AS locked`);
  }

  /** Takes the pass for this transaction without waiting: false when another replica's pass holds it. */
  async tryLockPass(tx: AnyTx): Promise<boolean> {
    const [lock] = await txQuery<{ ok: boolean }>(tx, `SELECT pg_try_advisory_xact_lock(hashtext('edge-fleet.remediation')) AS ok`);
    return lock?.ok ?? false;
  }

  /**
   * The devices a pass looks at: those with an override or an open action, and those of scenarios
   * with remediation on that have a firing remediable alert.
   */
  async devices(tx: AnyTx, activeScenarios: readonly string[]): Promise<DeviceRow[]> {
    return txQuery<DeviceRow>(
      tx,
      `SELECT d.id::text AS "deviceId", d.scenario, h."hardwareClass", ARRAY(SELECT jsonb_array_elements_text(h.spec->'precisions')) AS precisions,
              v."modelVersionId"::text AS "modelVersionId", a."modelVariantId"::text AS "variantId",
              EXISTS (SELECT 1 FROM "RolloutDevice" rd JOIN "Rollout" r ON r.id = rd."rolloutId"
                       WHERE rd."deviceId" = d.id AND r.status = ANY($2::text[])) AS "inRollout",
              p."precisionOrder", p."accuracyFloor"
         FROM "Device" d
         JOIN "HardwareProfile" h ON h.id = d."hardwareProfileId"
         LEFT JOIN "Assignment" a ON a."deviceId" = d.id AND a.version = d."assignmentVersion"
         LEFT JOIN "ModelVariant" v ON v.id = a."modelVariantId"
         LEFT JOIN "Policy" p ON p.scenario = d.scenario
        WHERE d.status <> 'revoked' AND (
          EXISTS (SELECT 1 FROM "DeviceOverride" o WHERE o."deviceId" = d.id)
          OR EXISTS (SELECT 1 FROM "RemediationAction" ra WHERE ra."deviceId" = d.id AND ra.status = ANY($3::text[]))
          OR (d.scenario = ANY($4::text[]) AND EXISTS (
                SELECT 1 FROM "Alert" al JOIN "AlertRule" r ON r.id = al."ruleId"
                 WHERE al.subject = d.id::text AND r.metric = ANY($1::text[]) AND al.state = 'firing')))
        ORDER BY d.id`,
      [[...REMEDIABLE_METRICS], [...ACTIVE_ROLLOUT_STATUSES], [...OPEN_STATUSES], [...activeScenarios]],
    );
  }

  async alerts(tx: AnyTx, deviceIds: readonly string[]): Promise<(AlertInfo & { deviceId: string })[]> {
    return txQuery(
      tx,
      `SELECT al.id::text AS "alertId", al.subject AS "deviceId", r.name AS rule, r.metric, al.state, al."activeAt", al."resolvedAt", al.value, al.threshold
         FROM "Alert" al JOIN "AlertRule" r ON r.id = al."ruleId"
        WHERE al.subject = ANY($1::text[]) AND r.metric = ANY($2::text[]) AND r.enabled
        ORDER BY al.subject, r.name, al.id`,
      [deviceIds, [...REMEDIABLE_METRICS]],
    );
  }

  /** Their actions, newest first: those of the last day and any still open. */
  async actions(tx: AnyTx, deviceIds: readonly string[], now: Date): Promise<(ActionInfo & { deviceId: string })[]> {
    return txQuery(
      tx,
      `SELECT id::text AS id, "deviceId"::text AS "deviceId", kind, status, "alertId"::text AS "alertId", episode, before, after,
              undoes::text AS undoes, "createdAt", "appliedAt", "checkAt", "outcomeAt"
         FROM "RemediationAction"
        WHERE "deviceId" = ANY($1::uuid[]) AND ("createdAt" > $2::timestamptz - interval '1 day' OR status = ANY($3::text[]))
        ORDER BY "createdAt" DESC, (kind = 'revert') DESC, id DESC`,
      [deviceIds, now, [...OPEN_STATUSES]],
    );
  }

  async variants(tx: AnyTx, modelVersionIds: readonly string[]): Promise<(VariantInfo & { modelVersionId: string })[]> {
    return txQuery(
      tx,
      `SELECT id::text AS id, "modelVersionId"::text AS "modelVersionId", precision, "sizeBytes", status = 'ready' AS usable,
              LEAST((measured #>> '{agreement,cosine}')::float8, COALESCE((measured #>> '{agreement,top1}')::float8, 1)) AS agreement
         FROM "ModelVariant"
        WHERE "modelVersionId" = ANY($1::uuid[]) AND sha256 IS NOT NULL AND "sizeBytes" IS NOT NULL
        ORDER BY id`,
      [modelVersionIds],
    );
  }

  /** Devices of the scenario that remedies changed since `since` (the hourly limit), and the scenario's device count. */
  async changedSince(tx: AnyTx, scenario: string, since: Date): Promise<{ changed: number; devices: number }> {
    const [row] = await txQuery<{ changed: number; devices: number }>(
      tx,
      `SELECT (SELECT count(DISTINCT "deviceId")::int FROM "RemediationAction"
                WHERE scenario = $1 AND kind = ANY($3::text[]) AND "appliedAt" > $2::timestamptz) AS changed,
              (SELECT count(*)::int FROM "Device" WHERE scenario = $1 AND status <> 'revoked') AS devices`,
      [scenario, since, [...REMEDY_KINDS]],
    );
    return row ?? { changed: 0, devices: 0 };
  }

  async insertAction(tx: AnyTx, a: NewAction): Promise<void> {
    await txExecute(
      tx,
      `INSERT INTO "RemediationAction" (id, "deviceId", scenario, kind, status, rule, "alertId", episode, reason, before, after, "figuresBefore",
                                        undoes, "createdAt", "appliedAt", "checkAt", "decidedBy", "decidedAt")
       VALUES ($1::uuid, $2::uuid, $3, $4, $5, $6, $7::uuid, $8::timestamptz, $9, $10::jsonb, $11::jsonb, $12::jsonb, $13::uuid,
               $14::timestamptz, $15::timestamptz, $16::timestamptz, $17::text, CASE WHEN $17::text IS NULL THEN NULL ELSE $14::timestamptz END)`,
      [
        a.id,
        a.deviceId,
        a.scenario,
        a.kind,
        a.status,
        a.rule,
        a.alertId,
        a.episode,
        a.reason,
        JSON.stringify(a.before),
        JSON.stringify(a.after),
        JSON.stringify(a.figuresBefore),
        a.undoes,
        a.createdAt,
        a.appliedAt,
        a.checkAt,
        a.decidedBy,
      ],
    );
  }

  /** Moves actions to a new status (an outcome, a decision), with the figures at that moment. */
  async setStatus(
    tx: AnyTx,
    ids: readonly string[],
    status: RemediationStatus,
    at: Date,
    extra: { figuresAfter?: Record<string, JsonValue>; decidedBy?: string; appliedAt?: Date; checkAt?: Date } = {},
  ): Promise<void> {
    if (ids.length === 0) return;
    await txExecute(
      tx,
      `UPDATE "RemediationAction" SET status = $2::text,
              "figuresAfter" = COALESCE($3::jsonb, "figuresAfter"),
              "decidedBy" = COALESCE($4::text, "decidedBy"), "decidedAt" = CASE WHEN $4::text IS NULL THEN "decidedAt" ELSE $5::timestamptz END,
              "appliedAt" = COALESCE($6::timestamptz, "appliedAt"), "checkAt" = COALESCE($7::timestamptz, "checkAt"),
              "outcomeAt" = CASE WHEN $2::text IN ('helped', 'failed', 'escalated', 'reverted', 'superseded', 'expired', 'rejected')
                                 THEN $5::timestamptz ELSE "outcomeAt" END
        WHERE id = ANY($1::uuid[])`,
      [
        ids,
        status,
        extra.figuresAfter ? JSON.stringify(extra.figuresAfter) : null,
        extra.decidedBy ?? null,
        at,
        extra.appliedAt ?? null,
        extra.checkAt ?? null,
      ],
    );
  }

  /** One action, locked for a decision on it. */
  async lockAction(
    tx: AnyTx,
    id: string,
  ): Promise<
    (ActionInfo & { deviceId: string; scenario: string; rule: string; reason: string; figuresBefore: Record<string, JsonValue> }) | null
  > {
    const [row] = await txQuery<
      ActionInfo & { deviceId: string; scenario: string; rule: string; reason: string; figuresBefore: Record<string, JsonValue> }
    >(
      tx,
      `SELECT id::text AS id, "deviceId"::text AS "deviceId", scenario, rule, reason, kind, status, "alertId"::text AS "alertId", episode, before, after,
              "figuresBefore", undoes::text AS undoes, "createdAt", "appliedAt", "checkAt", "outcomeAt"
         FROM "RemediationAction" WHERE id = $1::uuid FOR UPDATE`,
      [id],
    );
    return row ?? null;
  }

  /** The events of a pass or a decision, appended to the audit chain in one go. */
  async auditMany(tx: AnyTx, events: readonly AuditInput[]): Promise<void> {
    await appendAudits(tx, events);
  }

  async clearOverride(tx: AnyTx, deviceId: string): Promise<void> {
    await txExecute(tx, `DELETE FROM "DeviceOverride" WHERE "deviceId" = $1::uuid`, [deviceId]);
  }

  /**
   * Writes what remediation puts on the device (none: the override goes), for the model version
   * and base variant it was made on.
   */
  async setOverride(
    tx: AnyTx,
    deviceId: string,
    o: OverrideState,
    meta: { modelVersionId: string; baseVariantId: string; actionId: string },
  ): Promise<void> {
    if (o.variantId === null && o.maxRateHz === null && o.dutyCycle === null) return this.clearOverride(tx, deviceId);
    await txExecute(
      tx,
      `INSERT INTO "DeviceOverride" ("deviceId", "modelVersionId", "baseVariantId", "variantId", "maxRateHz", "dutyCycle", "actionId", "updatedAt")
       VALUES ($1::uuid, $2::uuid, $3::uuid, $4::uuid, $5, $6, $7::uuid, now())
       ON CONFLICT ("deviceId") DO UPDATE SET "variantId" = EXCLUDED."variantId", "maxRateHz" = EXCLUDED."maxRateHz",
         "dutyCycle" = EXCLUDED."dutyCycle", "actionId" = EXCLUDED."actionId", "updatedAt" = now()`,
      [deviceId, meta.modelVersionId, meta.baseVariantId, o.variantId, o.maxRateHz, o.dutyCycle, meta.actionId],
    );
  }

  /** The remediation log, newest first: of the devices in `scope` only (none: every device). */
  async list(q: RemediationListQuery, scope?: DeviceScope): Promise<RemediationActionView[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    const param = (v: unknown) => `$${params.push(v)}`;
    if (q.deviceId !== undefined) where.push(`a."deviceId" = ${param(q.deviceId)}::uuid`);
    if (q.scenario !== undefined) where.push(`a.scenario = ${param(q.scenario)}`);
    if (q.status !== undefined) where.push(`a.status = ${param(q.status)}`);
    where.push(scopeCondition(scope, deviceColumns('d'), param));
    return (
      await this.pool.query<RemediationActionView>(
        `SELECT ${ACTION_VIEW} FROM "RemediationAction" a LEFT JOIN "Device" d ON d.id = a."deviceId"
          WHERE ${where.join(' AND ')} ORDER BY a."createdAt" DESC, a.id DESC LIMIT ${param(q.limit)}`,
        params,
      )
    ).rows;
  }

  /** One action; null: no such action, or one on a device outside `scope`. */
  async get(id: string, scope?: DeviceScope): Promise<RemediationActionView | null> {
    const params: unknown[] = [id];
    const res = await this.pool.query<RemediationActionView>(
      `SELECT ${ACTION_VIEW} FROM "RemediationAction" a LEFT JOIN "Device" d ON d.id = a."deviceId"
        WHERE a.id = $1::uuid AND ${scopeCondition(scope, deviceColumns('d'), (v) => `$${params.push(v)}`)}`,
      params,
    );
    return res.rows[0] ?? null;
  }

  /** What remediation puts on the device now, with the override variant's precision. */
  async overrideView(deviceId: string): Promise<(OverrideState & { precision: string | null }) | null> {
    const res = await this.pool.query<OverrideState & { precision: string | null }>(
      `SELECT o."variantId"::text AS "variantId", v.precision, o."maxRateHz", o."dutyCycle"
         FROM "DeviceOverride" o LEFT JOIN "ModelVariant" v ON v.id = o."variantId" WHERE o."deviceId" = $1::uuid`,
      [deviceId],
    );
    return res.rows[0] ?? null;
  }

  /** The precision of these variants (to show an override's before and after). */
  async precisions(variantIds: readonly string[]): Promise<Map<string, string>> {
    if (variantIds.length === 0) return new Map();
    const res = await this.pool.query<{ id: string; precision: string }>(
      `SELECT id::text AS id, precision FROM "ModelVariant" WHERE id = ANY($1::uuid[])`,
      [variantIds],
    );
    return new Map(res.rows.map((r) => [r.id, r.precision]));
  }
}
