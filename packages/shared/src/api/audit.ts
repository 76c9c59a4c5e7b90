import { z } from 'zod';

/** REST `GET /api/v1/audit` query: newest first, filtered, keyset-paged by id. */
export const AuditQuerySchema = z.strictObject({
  actor: z.string().min(1).max(200).optional(),
  action: z.string().min(1).max(200).optional().describe('e.g. rollout.approve, policy.update'),
  targetType: z.string().min(1).max(100).optional(),
  targetId: z.string().min(1).max(200).optional(),
  from: z.iso.datetime({ offset: true }).optional().describe('events at or after this time'),
  to: z.iso.datetime({ offset: true }).optional().describe('events before this time'),
  before: z.coerce.number().int().min(1).optional().describe("keyset paging: the previous page's nextBefore"),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});
export type AuditQuery = z.infer<typeof AuditQuerySchema>;

export const AuditEventSchema = z.object({
  id: z.string().describe('increasing; the chain follows it'),
  at: z.string(),
  actor: z.string(),
  action: z.string(),
  targetType: z.string(),
  targetId: z.string(),
  details: z.unknown(),
  prevHash: z.string().nullable(),
  hash: z.string().nullable().describe('null for events written before the chain existed'),
});
export type AuditEvent = z.infer<typeof AuditEventSchema>;

export const AuditPageSchema = z.object({ items: z.array(AuditEventSchema), nextBefore: z.number().int().nullable() });
export type AuditPage = z.infer<typeof AuditPageSchema>;

/** `GET /api/v1/audit/verify`: the chain recomputed from the first event to the last. */
export const AuditVerificationSchema = z.object({
  ok: z.boolean(),
  checked: z.number().int().describe('events whose hash was recomputed'),
  beforeChain: z.number().int().describe('events written before the chain existed (no hash): not covered'),
  last: z
    .object({ id: z.string(), hash: z.string() })
    .nullable()
    .describe('keep it elsewhere: deleting the newest events is only seen against it'),
  firstBroken: z.object({ id: z.string(), reason: z.string() }).nullable(),
});
export type AuditVerification = z.infer<typeof AuditVerificationSchema>;
