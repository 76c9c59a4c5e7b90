import { createHash, randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { EnrollResponseSchema, HardwareProfileSchema } from '@edge-fleet/shared';
import { z } from 'zod';
import { readJsonFile, writeJsonAtomic } from './atomic-file.js';

/** What enrollment leaves on disk (mode 0600): enough to reconnect without the token. */
export const StoredCredentialsSchema = z.strictObject({
  schema: z.literal(1),
  deviceId: EnrollResponseSchema.shape.deviceId,
  deviceSecret: EnrollResponseSchema.shape.deviceSecret,
  scenario: EnrollResponseSchema.shape.scenario,
  mqtt: EnrollResponseSchema.shape.mqtt,
  /** Trust anchor for signed manifests, received at enrollment. */
  rootPublicKey: EnrollResponseSchema.shape.rootPublicKey,
  /** TLS: the CA certificate (PEM) trusted, alone, for the control plane's HTTPS and the broker's mqtts. */
  tls: z.strictObject({ caCertificate: z.string().min(1) }).optional(),
  controlPlaneUrl: z.url(),
  enrolledAt: z.iso.datetime({ offset: true }),
  hardwareProfile: HardwareProfileSchema,
  /** Preset name or file the profile came from; used to label power estimates. */
  profileLabel: z.string().min(1).max(128),
});
export type StoredCredentials = z.infer<typeof StoredCredentialsSchema>;

export function credentialsPath(dataDir: string): string {
  return join(dataDir, 'credentials.json');
}

export async function loadCredentials(dataDir: string): Promise<StoredCredentials | null> {
  return readJsonFile(credentialsPath(dataDir), StoredCredentialsSchema);
}

export async function saveCredentials(dataDir: string, creds: StoredCredentials): Promise<void> {
  await writeJsonAtomic(credentialsPath(dataDir), StoredCredentialsSchema.parse(creds), 0o600);
}

/**
 * An enrollment begun and not finished (mode 0600, beside the credentials): its `requestId`, sent
 * with every try of it, so a try whose answer was lost is repeated as the same enrollment (the
 * control plane answers with the same device and a new secret, using no further use of the token).
 * Kept per token (by its sha256, never the token itself): another token is another enrollment.
 */
const PendingEnrollmentSchema = z.strictObject({
  schema: z.literal(1),
  requestId: z.uuid(),
  tokenSha256: z.string().regex(/^[0-9a-f]{64}$/),
  startedAt: z.iso.datetime({ offset: true }),
});

export function pendingEnrollmentPath(dataDir: string): string {
  return join(dataDir, 'enrollment-pending.json');
}

/** The requestId of this token's enrollment under way, written to disk before its first try. */
export async function enrollmentRequestId(dataDir: string, token: string, now: Date): Promise<string> {
  const tokenSha256 = createHash('sha256').update(token).digest('hex');
  const pending = await readJsonFile(pendingEnrollmentPath(dataDir), PendingEnrollmentSchema);
  if (pending?.tokenSha256 === tokenSha256) return pending.requestId;
  const requestId = randomUUID();
  await writeJsonAtomic(pendingEnrollmentPath(dataDir), { schema: 1, requestId, tokenSha256, startedAt: now.toISOString() }, 0o600);
  return requestId;
}

/** The enrollment finished (its credentials stored): nothing of it is left to repeat. */
export async function enrollmentFinished(dataDir: string): Promise<void> {
  await rm(pendingEnrollmentPath(dataDir), { force: true });
}
