import { Injectable } from '@nestjs/common';
import type { JsonValue } from './json.js';
import { txExecute, type AnyTx } from './unit-of-work.js';

export interface AuditInput {
  actor: string;
  action: string;
  targetType: string;
  targetId: string;
  details?: JsonValue;
}

/** Events per statement: one JSON parameter, unpacked by Postgres. */
const BATCH = 2_000;

/** Append-only audit log, the only writer of "AuditEvent": written in the same transaction as the change it records. */
@Injectable()
export class AuditRepository {
  append(tx: AnyTx, e: AuditInput): Promise<void> {
    return appendAudit(tx, e);
  }

  appendMany(tx: AnyTx, events: readonly AuditInput[]): Promise<void> {
    return appendAudits(tx, events);
  }
}

/** For repositories that record an event inside a transaction they opened themselves. */
export async function appendAudit(tx: AnyTx, e: AuditInput): Promise<void> {
  await txExecute(tx, `INSERT INTO "AuditEvent" (actor, action, "targetType", "targetId", details) VALUES ($1, $2, $3, $4, $5::jsonb)`, [
    e.actor,
    e.action,
    e.targetType,
    e.targetId,
    JSON.stringify(e.details ?? {}),
  ]);
}

export async function appendAudits(tx: AnyTx, events: readonly AuditInput[]): Promise<void> {
  for (let i = 0; i < events.length; i += BATCH) {
    await txExecute(
      tx,
      `INSERT INTO "AuditEvent" (actor, action, "targetType", "targetId", details)
       SELECT x.actor, x.action, x."targetType", x."targetId", COALESCE(x.details, '{}'::jsonb)
         FROM jsonb_to_recordset($1::jsonb) AS x(actor text, action text, "targetType" text, "targetId" text, details jsonb)`,
      [JSON.stringify(events.slice(i, i + BATCH))],
    );
  }
}
