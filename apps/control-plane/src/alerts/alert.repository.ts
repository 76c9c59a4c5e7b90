import { Inject, Injectable } from '@nestjs/common';
import type { AlertDetail, AlertListQuery, AlertView, CreateSilence, SilenceView } from '@edge-fleet/shared/api';
import type { Pool } from 'pg';
import { appendAudit } from '../infra/audit.repository.js';
import { withTransaction } from '../infra/pg-transaction.js';
import { PG_POOL } from '../infra/tokens.js';
import { asBulkTx, txQuery } from '../infra/unit-of-work.js';
import { sqlParams, type DeviceScope } from '../infra/scope-sql.js';
import { alertInScope, iso } from './sql.js';

/** An active silence whose matchers all match the alert's labels (`a` is the alert). */
const SILENCED_BY = `(SELECT s.id::text FROM "Silence" s
   WHERE s."startsAt" <= $1::timestamptz AND s."endsAt" > $1::timestamptz
     AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(s.matchers) m WHERE a.labels ->> (m ->> 'name') IS DISTINCT FROM m ->> 'value')
   ORDER BY s."endsAt" DESC LIMIT 1)`;

const ALERT_VIEW = `a.id, a.fingerprint, a."ruleId", r.name AS "ruleName", r.metric, r.severity, a.scenario, a.subject, a.state, a.value, a.threshold,
  ${iso('a."activeAt"')} AS "activeAt", ${iso('a."firedAt"')} AS "firedAt", ${iso('a."resolvedAt"')} AS "resolvedAt", ${SILENCED_BY} AS "silencedBy"`;

const STATES: Record<AlertListQuery['state'], string[]> = {
  active: ['pending', 'firing'],
  pending: ['pending'],
  firing: ['firing'],
  resolved: ['resolved'],
  all: ['pending', 'firing', 'resolved'],
};

/** An alert whose webhooks have not heard of its state yet. */
export interface NotifyRow {
  id: string;
  fingerprint: string;
  state: 'firing' | 'resolved';
  notifiedState: string | null;
  labels: Record<string, string>;
  ruleName: string;
  metric: string;
  value: number | null;
  threshold: number | null;
  activeAt: Date;
  resolvedAt: Date | null;
  silencedBy: string | null;
}

const SILENCE_VIEW = `id, matchers, ${iso('"startsAt"')} AS "startsAt", ${iso('"endsAt"')} AS "endsAt", comment, "createdBy",
  ("startsAt" <= $1::timestamptz AND "endsAt" > $1::timestamptz) AS active`;

/** Reads of alerts and their history, the notification bookkeeping, and silences (audited). */
@Injectable()
export class AlertRepository {
  constructor(@Inject(PG_POOL) private readonly pool: Pool) {}

  /** The alerts of `scope` (none: every alert), with the counts of its firing and pending ones. */
  async list(q: AlertListQuery, now: Date, scope?: DeviceScope): Promise<{ items: AlertView[]; firing: number; pending: number }> {
    const listed = sqlParams([now, STATES[q.state], q.limit]);
    const items = await this.pool.query<AlertView>(
      `SELECT ${ALERT_VIEW} FROM "Alert" a JOIN "AlertRule" r ON r.id = a."ruleId"
        WHERE a.state = ANY($2::text[]) AND ${alertInScope(scope, 'a', listed.param)}
        ORDER BY CASE a.state WHEN 'firing' THEN 0 WHEN 'pending' THEN 1 ELSE 2 END, a.scenario NULLS LAST, r.name, a."activeAt" DESC
        LIMIT $3`,
      listed.params,
    );
    const counted = sqlParams();
    const counts = await this.pool.query<{ firing: number; pending: number }>(
      `SELECT count(*) FILTER (WHERE a.state = 'firing')::int AS firing, count(*) FILTER (WHERE a.state = 'pending')::int AS pending
         FROM "Alert" a WHERE a.state IN ('firing', 'pending') AND ${alertInScope(scope, 'a', counted.param)}`,
      counted.params,
    );
    return { items: items.rows, firing: counts.rows[0]?.firing ?? 0, pending: counts.rows[0]?.pending ?? 0 };
  }

  /** One alert with its transitions; null: no such alert, or one outside `scope`. */
  async detail(id: string, now: Date, scope?: DeviceScope): Promise<AlertDetail | null> {
    const one = sqlParams([now, id]);
    const [alert] = (
      await this.pool.query<AlertView>(
        `SELECT ${ALERT_VIEW} FROM "Alert" a JOIN "AlertRule" r ON r.id = a."ruleId" WHERE a.id = $2::uuid AND ${alertInScope(scope, 'a', one.param)}`,
        one.params,
      )
    ).rows;
    if (!alert) return null;
    const transitions = await this.pool.query<AlertDetail['transitions'][number]>(
      `SELECT "fromState" AS "from", "toState" AS "to", ${iso('at')} AS at, value, threshold, figures
         FROM "AlertTransition" WHERE "alertId" = $1::uuid ORDER BY id LIMIT 1000`,
      [id],
    );
    return { ...alert, transitions: transitions.rows };
  }

  /** Alerts whose current state (firing or resolved) the webhooks have not been told. */
  async toNotify(now: Date, limit = 5_000): Promise<NotifyRow[]> {
    return (
      await this.pool.query<NotifyRow>(
        `SELECT a.id, a.fingerprint, a.state, a."notifiedState", a.labels, r.name AS "ruleName", r.metric, a.value, a.threshold,
                a."activeAt", a."resolvedAt", ${SILENCED_BY} AS "silencedBy"
           FROM "Alert" a JOIN "AlertRule" r ON r.id = a."ruleId"
          WHERE a.state IN ('firing', 'resolved') AND a."notifiedState" IS DISTINCT FROM a.state
          ORDER BY a."evaluatedAt" LIMIT $2`,
        [now, limit],
      )
    ).rows;
  }

  /** Records that the webhooks have (or, for a resolution nobody heard fire, need not have) heard of these states. */
  async markNotified(items: readonly { id: string; state: string }[]): Promise<void> {
    if (items.length === 0) return;
    await this.pool.query(
      `UPDATE "Alert" a SET "notifiedState" = u.s FROM unnest($1::uuid[], $2::text[]) AS u(id, s) WHERE a.id = u.id AND a.state = u.s`,
      [items.map((i) => i.id), items.map((i) => i.state)],
    );
  }

  async listSilences(now: Date, includeExpired: boolean): Promise<SilenceView[]> {
    return (
      await this.pool.query<SilenceView>(
        `SELECT ${SILENCE_VIEW} FROM "Silence" WHERE $2 OR "endsAt" > $1::timestamptz ORDER BY "endsAt" DESC LIMIT 500`,
        [now, includeExpired],
      )
    ).rows;
  }

  async createSilence(s: CreateSilence, actor: string, now: Date): Promise<SilenceView> {
    return withTransaction(this.pool, async (client) => {
      const tx = asBulkTx(client);
      const [row] = await txQuery<SilenceView>(
        tx,
        `INSERT INTO "Silence" (id, matchers, "startsAt", "endsAt", comment, "createdBy")
         VALUES (gen_random_uuid(), $2::jsonb, $1::timestamptz, $1::timestamptz + make_interval(secs => $3), $4, $5) RETURNING ${SILENCE_VIEW}`,
        [now, JSON.stringify(s.matchers), s.durationSeconds, s.comment, actor],
      );
      if (!row) throw new Error('silence insert returned nothing');
      await appendAudit(tx, { actor, action: 'silence.create', targetType: 'silence', targetId: row.id, details: { ...s } });
      return row;
    });
  }

  /** Ends a silence now (it stays listed as expired); null: no such silence. */
  async expireSilence(id: string, actor: string, now: Date): Promise<SilenceView | null> {
    return withTransaction(this.pool, async (client) => {
      const tx = asBulkTx(client);
      const [row] = await txQuery<SilenceView>(
        tx,
        `UPDATE "Silence" SET "endsAt" = LEAST("endsAt", $1::timestamptz) WHERE id = $2::uuid RETURNING ${SILENCE_VIEW}`,
        [now, id],
      );
      if (!row) return null;
      await appendAudit(tx, { actor, action: 'silence.expire', targetType: 'silence', targetId: id, details: { endsAt: row.endsAt } });
      return row;
    });
  }
}
