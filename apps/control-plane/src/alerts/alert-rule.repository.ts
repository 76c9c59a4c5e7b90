import { Inject, Injectable } from '@nestjs/common';
import type { AlertRuleSettings, AlertRuleView } from '@edge-fleet/shared/api';
import type { Pool } from 'pg';
import { appendAudit } from '../infra/audit.repository.js';
import { withTransaction } from '../infra/pg-transaction.js';
import { PG_POOL } from '../infra/tokens.js';
import { asBulkTx, txQuery } from '../infra/unit-of-work.js';
import { iso } from './sql.js';

const VIEW = `id, name, metric, scenario, threshold, percentile, "forSeconds", "lookbackSeconds", hysteresis, severity, enabled, origin,
  ${iso('"updatedAt"')} AS "updatedAt"`;

const SETTINGS = [
  'name',
  'metric',
  'scenario',
  'threshold',
  'percentile',
  'forSeconds',
  'lookbackSeconds',
  'hysteresis',
  'severity',
  'enabled',
] as const;

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
      const [row] = await txQuery<AlertRuleView>(
        tx,
        `INSERT INTO "AlertRule" (id, ${SETTINGS.map((c) => `"${c}"`).join(', ')}, origin, "createdBy")
         VALUES (gen_random_uuid(), ${SETTINGS.map((_, i) => `$${i + 1}`).join(', ')}, 'operator', $${SETTINGS.length + 1})
         ON CONFLICT (name) DO NOTHING RETURNING ${VIEW}`,
        [...SETTINGS.map((c) => s[c]), actor],
      );
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
      const [row] = await txQuery<AlertRuleView>(
        tx,
        `UPDATE "AlertRule" SET ${SETTINGS.map((c, i) => `"${c}" = $${i + 2}`).join(', ')}, "updatedAt" = now()
          WHERE id = $1::uuid RETURNING ${VIEW}`,
        [id, ...SETTINGS.map((c) => s[c])],
      );
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
}
