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
