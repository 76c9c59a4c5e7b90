import { Inject, Injectable } from '@nestjs/common';
import type { WebhookDeliveryView, WebhookView } from '@edge-fleet/shared/api';
import type { Pool } from 'pg';
import { appendAudit } from '../infra/audit.repository.js';
import { withTransaction } from '../infra/pg-transaction.js';
import { PG_POOL } from '../infra/tokens.js';
import { asBulkTx, txQuery } from '../infra/unit-of-work.js';
import { limits, sqlParams, type DeviceScope } from '../infra/scope-sql.js';
import { alertInScope, iso } from './sql.js';

const VIEW = `id, name, url, enabled, ${iso('"createdAt"')} AS "createdAt"`;

export interface DeliveryRecord {
  receiverId: string;
  alertId: string;
  notification: string;
  status: 'firing' | 'resolved';
  attempt: number;
  outcome: 'delivered' | 'failed';
  httpStatus: number | null;
  error: string | null;
  durationMs: number;
}

/** Webhook receivers (the sealed secret never leaves this file but to the delivery) and their delivery attempts. */
@Injectable()
export class WebhookRepository {
  constructor(@Inject(PG_POOL) private readonly pool: Pool) {}

  async list(): Promise<WebhookView[]> {
    return (await this.pool.query<WebhookView>(`SELECT ${VIEW} FROM "WebhookReceiver" ORDER BY "createdAt"`)).rows;
  }

  async enabledIds(): Promise<{ id: string; name: string }[]> {
    return (await this.pool.query<{ id: string; name: string }>(`SELECT id, name FROM "WebhookReceiver" WHERE enabled`)).rows;
  }

  /** What a delivery needs: the URL and the sealed secret; null when removed or disabled. */
  async forDelivery(id: string): Promise<{ name: string; url: string; secretEnc: string } | null> {
    const r = await this.pool.query<{ name: string; url: string; secretEnc: string }>(
      `SELECT name, url, "secretEnc" FROM "WebhookReceiver" WHERE id = $1::uuid AND enabled`,
      [id],
    );
    return r.rows[0] ?? null;
  }

  async create(w: { name: string; url: string; secretEnc: string }, actor: string): Promise<WebhookView> {
    return withTransaction(this.pool, async (client) => {
      const tx = asBulkTx(client);
      const [row] = await txQuery<WebhookView>(
        tx,
        `INSERT INTO "WebhookReceiver" (id, name, url, "secretEnc", "createdBy") VALUES (gen_random_uuid(), $1, $2, $3, $4) RETURNING ${VIEW}`,
        [w.name, w.url, w.secretEnc, actor],
      );
      if (!row) throw new Error('webhook insert returned nothing');
      await appendAudit(tx, {
        actor,
        action: 'webhook.create',
        targetType: 'webhook',
        targetId: row.id,
        details: { name: w.name, url: w.url },
      });
      return row;
    });
  }

  async remove(id: string, actor: string): Promise<boolean> {
    return withTransaction(this.pool, async (client) => {
      const tx = asBulkTx(client);
      const [row] = await txQuery<WebhookView>(tx, `DELETE FROM "WebhookReceiver" WHERE id = $1::uuid RETURNING ${VIEW}`, [id]);
      if (!row) return false;
      await appendAudit(tx, {
        actor,
        action: 'webhook.delete',
        targetType: 'webhook',
        targetId: id,
        details: { name: row.name, url: row.url },
      });
      return true;
    });
  }

  async exists(id: string): Promise<boolean> {
    return (await this.pool.query(`SELECT 1 FROM "WebhookReceiver" WHERE id = $1::uuid`, [id])).rowCount === 1;
  }

  async attemptsSoFar(notification: string): Promise<number> {
    const r = await this.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM "WebhookDelivery" WHERE notification = $1`, [
      notification,
    ]);
    return r.rows[0]?.n ?? 0;
  }

  async record(d: DeliveryRecord): Promise<void> {
    await this.pool.query(
      `INSERT INTO "WebhookDelivery" ("receiverId", "alertId", notification, status, attempt, outcome, "httpStatus", error, "durationMs")
       VALUES ($1::uuid, $2::uuid, $3, $4, $5, $6, $7, $8, $9)`,
      [d.receiverId, d.alertId, d.notification, d.status, d.attempt, d.outcome, d.httpStatus, d.error, d.durationMs],
    );
  }

  /** The receiver's latest deliveries, of the alerts in `scope` only (none: all). */
  async deliveries(receiverId: string, limit: number, scope?: DeviceScope): Promise<WebhookDeliveryView[]> {
    const q = sqlParams([receiverId, limit]);
    const inScope = limits(scope) ? `AND "alertId" IN (SELECT a.id FROM "Alert" a WHERE ${alertInScope(scope, 'a', q.param)})` : '';
    return (
      await this.pool.query<WebhookDeliveryView>(
        `SELECT id::text AS id, "receiverId", "alertId", status, attempt, outcome, "httpStatus", error, "durationMs", ${iso('at')} AS at
           FROM "WebhookDelivery" WHERE "receiverId" = $1::uuid ${inScope} ORDER BY id DESC LIMIT $2`,
        q.params,
      )
    ).rows;
  }
}
