import { Inject, Injectable } from '@nestjs/common';
import { ALERT_RULE_FIELDS, type AlertRuleSettings, type AlertRuleView } from '@edge-fleet/shared/api';
import type { Pool } from 'pg';
import { appendAudit, appendAudits, type AuditInput } from '../infra/audit.repository.js';
import { withTransaction } from '../infra/pg-transaction.js';
import { PG_POOL } from '../infra/tokens.js';
import { asBulkTx, txExecute, txQuery, type AnyTx } from '../infra/unit-of-work.js';
import { iso } from './sql.js';

const VIEW = `id, name, metric, scenario, threshold, percentile, "forSeconds", "lookbackSeconds", hysteresis, severity, enabled, origin,
  ${iso('"updatedAt"')} AS "updatedAt"`;

const SETTINGS = ALERT_RULE_FIELDS;

// explicit casts: the same statements run on a Prisma transaction too, whose raw parameters carry no column types
const CASTS: Record<(typeof SETTINGS)[number], string> = {
  name: 'text',
  metric: 'text',
  scenario: 'text',
  threshold: 'float8',
  percentile: 'text',
  forSeconds: 'int',
  lookbackSeconds: 'int',
  hysteresis: 'float8',
  severity: 'text',
  enabled: 'boolean',
};
const param = (i: number, at: number) => `$${at}::${CASTS[SETTINGS[i] ?? 'name']}`;
const INSERT = `INSERT INTO "AlertRule" (id, ${SETTINGS.map((c) => `"${c}"`).join(', ')}, origin, "createdBy")
  VALUES (gen_random_uuid(), ${SETTINGS.map((_, i) => param(i, i + 1)).join(', ')}, 'operator', $${SETTINGS.length + 1}::text)`;
const UPDATE = `UPDATE "AlertRule" SET ${SETTINGS.map((c, i) => `"${c}" = ${param(i, i + 2)}`).join(', ')}, "updatedAt" = now() WHERE id = $1::uuid`;
const values = (s: AlertRuleSettings) => SETTINGS.map((c) => s[c]);

/** What applying a rule list changed, by rule name. */
export interface RuleListChanges {
  created: string[];
  updated: string[];
  deleted: string[];
}

/** The only writer of "AlertRule"; every change is audited in its transaction. */
@Injectable()
export class AlertRuleRepository {
  constructor(@Inject(PG_POOL) private readonly pool: Pool) {}

  async list(): Promise<AlertRuleView[]> {
    return (await this.pool.query<AlertRuleView>(`SELECT ${VIEW} FROM "AlertRule" ORDER BY origin DESC, name`)).rows;
  }

  async get(id: string): Promise<AlertRuleView | null> {
    return (await this.pool.query<AlertRuleView>(`SELECT ${VIEW} FROM "AlertRule" WHERE id = $1::uuid`, [id])).rows[0] ?? null;
  }

  /** Null: the name is taken. */
  async create(s: AlertRuleSettings, actor: string): Promise<AlertRuleView | null> {
    return withTransaction(this.pool, async (client) => {
      const tx = asBulkTx(client);
      const [row] = await txQuery<AlertRuleView>(tx, `${INSERT} ON CONFLICT (name) DO NOTHING RETURNING ${VIEW}`, [...values(s), actor]);
      if (!row) return null;
      await appendAudit(tx, { actor, action: 'alert_rule.create', targetType: 'alert_rule', targetId: row.id, details: { after: s } });
      return row;
    });
  }

  /** Null: no such rule; `conflict`: the new name is another rule's. */
  async update(id: string, s: AlertRuleSettings, actor: string): Promise<AlertRuleView | null | 'conflict'> {
    return withTransaction(this.pool, async (client) => {
      const tx = asBulkTx(client);
      const [before] = await txQuery<AlertRuleView>(tx, `SELECT ${VIEW} FROM "AlertRule" WHERE id = $1::uuid FOR UPDATE`, [id]);
      if (!before) return null;
      const [clash] = await txQuery<{ id: string }>(tx, `SELECT id FROM "AlertRule" WHERE name = $1 AND id <> $2::uuid`, [s.name, id]);
      if (clash) return 'conflict';
      const [row] = await txQuery<AlertRuleView>(tx, `${UPDATE} RETURNING ${VIEW}`, [id, ...values(s)]);
      await appendAudit(tx, { actor, action: 'alert_rule.update', targetType: 'alert_rule', targetId: id, details: { before, after: s } });
      return row ?? null;
    });
  }

  /** Deletes the rule and its alerts (their history goes with them; the audit keeps the rule). */
  async remove(id: string, actor: string): Promise<boolean> {
    return withTransaction(this.pool, async (client) => {
      const tx = asBulkTx(client);
      const [before] = await txQuery<AlertRuleView>(tx, `DELETE FROM "AlertRule" WHERE id = $1::uuid RETURNING ${VIEW}`, [id]);
      if (!before) return false;
      await appendAudit(tx, { actor, action: 'alert_rule.delete', targetType: 'alert_rule', targetId: id, details: { before } });
      return true;
    });
  }

  /**
   * Applies the rule lists of a policy document in the caller's transaction: each rule is created,
   * or updated by name (wherever it was); the rules of a declared list (`scopes`: a scenario, null
   * for the fleet-wide list) that the document does not name are deleted; an unchanged rule is left
   * alone. Every change is audited.
   */
  async applyLists(
    tx: AnyTx,
    scopes: readonly (string | null)[],
    rules: readonly AlertRuleSettings[],
    actor: string,
  ): Promise<RuleListChanges> {
    const existing = await txQuery<AlertRuleView>(tx, `SELECT ${VIEW} FROM "AlertRule" ORDER BY name FOR UPDATE`);
    const out: RuleListChanges = { created: [], updated: [], deleted: [] };
    const audits: AuditInput[] = [];
    for (const s of rules) {
      const before = existing.find((r) => r.name === s.name);
      if (!before) {
        const [row] = await txQuery<{ id: string }>(tx, `${INSERT} RETURNING id::text AS id`, [...values(s), actor]);
        audits.push({ actor, action: 'alert_rule.create', targetType: 'alert_rule', targetId: row?.id ?? s.name, details: { after: s } });
        out.created.push(s.name);
      } else if (SETTINGS.some((c) => before[c] !== s[c])) {
        await txExecute(tx, UPDATE, [before.id, ...values(s)]);
        audits.push({ actor, action: 'alert_rule.update', targetType: 'alert_rule', targetId: before.id, details: { before, after: s } });
        out.updated.push(s.name);
      }
    }
    const named = new Set(rules.map((r) => r.name));
    const gone = existing.filter((r) => scopes.includes(r.scenario) && !named.has(r.name));
    if (gone.length > 0) await txExecute(tx, 'DELETE FROM "AlertRule" WHERE id = ANY($1::uuid[])', [gone.map((r) => r.id)]);
    for (const before of gone) {
      audits.push({ actor, action: 'alert_rule.delete', targetType: 'alert_rule', targetId: before.id, details: { before } });
      out.deleted.push(before.name);
    }
    await appendAudits(tx, audits);
    return out;
  }
}
