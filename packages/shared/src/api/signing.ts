import { z } from 'zod';

/** `GET /api/v1/signing-key`: what devices are told to trust (all of it public). */
export const SigningKeyStatusSchema = z.object({
  rootPublicKey: z.string().describe('base64 DER (SPKI) of the root key devices got at enrollment'),
  serial: z.number().int().describe('the signing key in use; devices refuse keys below the highest serial they accepted'),
  publicKey: z.string().describe('base64 DER (SPKI) of the signing key in use'),
  expiresAt: z.string().describe('when its root certificate expires (renewed at start within a day of it)'),
});
export type SigningKeyStatus = z.infer<typeof SigningKeyStatusSchema>;

/** `POST /api/v1/signing-key/rotate`: the new key, and how many devices were sent a state signed with it. */
export const SigningKeyRotationSchema = SigningKeyStatusSchema.extend({
  previousSerial: z.number().int(),
  republished: z.number().int().describe('devices whose stored desired state was re-signed and published'),
});
export type SigningKeyRotation = z.infer<typeof SigningKeyRotationSchema>;

/** `POST /api/v1/signing-key/rotate` body: why (kept in the audit); an empty body rotates nothing. */
export const RotateSigningKeySchema = z.strictObject({
  reason: z.string().trim().min(1).max(500).describe('e.g. "suspected leak of the signing key on api-2"'),
});
export type RotateSigningKey = z.infer<typeof RotateSigningKeySchema>;
