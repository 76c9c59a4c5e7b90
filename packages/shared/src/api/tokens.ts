import { z } from 'zod';
import { ScenarioSchema } from '../schemas.js';

/**
 * Operator roles. A viewer reads the fleet; an auditor reads what a viewer reads and the audit log;
 * an operator changes the fleet; an admin also manages credentials and reads the audit log.
 */
export const OperatorRoleSchema = z.enum(['viewer', 'auditor', 'operator', 'admin']);
export type OperatorRole = z.infer<typeof OperatorRoleSchema>;

/**
 * The device labels a token is limited to: it reads and acts on only the devices that carry every
 * one of them (`{ "site": "berlin" }`), and changes nothing scenario-wide. Empty: no label limit.
 */
export const TokenLabelsSchema = z
  .record(z.string().trim().min(1).max(64), z.string().max(256))
  .refine((labels) => Object.keys(labels).length <= 20, { message: 'at most 20 labels' });

/** REST `POST /api/v1/tokens` body and tRPC `tokens.create` input. */
export const CreateApiTokenSchema = z.strictObject({
  name: z.string().trim().min(1).max(100),
  role: OperatorRoleSchema,
  scenarios: z
    .array(ScenarioSchema)
    .max(20)
    .default([])
    .describe('the scenarios the token may change, and whose devices it reads; empty: the whole fleet'),
  labels: TokenLabelsSchema.default({}).describe('device labels the token is limited to (a device must carry all); empty: none'),
  expiresAt: z.iso.datetime({ offset: true }).optional().describe('when the token stops working; absent: never'),
});
export type CreateApiToken = z.infer<typeof CreateApiTokenSchema>;

export const ApiTokenIdParamsSchema = z.strictObject({ id: z.uuid() });

/** A token as listed: never its secret, only the first characters of it. */
export const ApiTokenViewSchema = z.object({
  id: z.string(),
  name: z.string(),
  role: OperatorRoleSchema,
  scenarios: z.array(z.string()),
  labels: z.record(z.string(), z.string()),
  prefix: z.string().describe('the first characters of the secret, to recognise it; empty for tokens made before prefixes were kept'),
  status: z.enum(['active', 'expired', 'revoked']),
  createdAt: z.string(),
  expiresAt: z.string().nullable(),
  rotatedAt: z.string().nullable(),
  lastUsedAt: z.string().nullable().describe('to the minute: a use is recorded at most once a minute'),
  revokedAt: z.string().nullable(),
});
export type ApiTokenView = z.infer<typeof ApiTokenViewSchema>;

export const ApiTokenListSchema = z.object({ items: z.array(ApiTokenViewSchema) });
export type ApiTokenList = z.infer<typeof ApiTokenListSchema>;

/** The answer to create and rotate: the secret, shown this once and never stored. */
export const ApiTokenSecretSchema = z.object({ token: ApiTokenViewSchema, secret: z.string() });
export type ApiTokenSecret = z.infer<typeof ApiTokenSecretSchema>;

/** REST `POST /api/v1/sessions`: an operator token exchanged for a dashboard session. */
export const OperatorSessionSchema = z.object({
  session: z.string().describe('the session credential (send as Bearer); stored only as its hash'),
  expiresAt: z.string(),
  name: z.string(),
  role: OperatorRoleSchema,
});
export type OperatorSession = z.infer<typeof OperatorSessionSchema>;

/** tRPC `session.me`: who the credential belongs to. */
export const WhoAmISchema = z.object({
  name: z.string(),
  role: OperatorRoleSchema,
  scenarios: z.array(z.string()),
  labels: z.record(z.string(), z.string()),
  via: z.enum(['token', 'session']),
});
export type WhoAmI = z.infer<typeof WhoAmISchema>;
