import type { Prisma } from '../generated/prisma/client.js';

export interface AuditInput {
  actor: string;
  action: string;
  targetType: string;
  targetId: string;
  details?: Prisma.InputJsonValue;
}

type Tx = Pick<Prisma.TransactionClient, 'auditEvent'>;

/** Append-only audit log: written in the same transaction as the change it records. */
export async function appendAudit(tx: Tx, e: AuditInput): Promise<void> {
  await tx.auditEvent.create({ data: { ...e, details: e.details ?? {} } });
}
