import { enroll } from '../enrollment/enrollment.client.js';
import type { Logger } from '../core/logger.js';
import { loadCredentials, saveCredentials, type StoredCredentials } from '../storage/credentials.store.js';
import type { CliArgs, Parsed, ResolvedProfile } from './cli-args.parser.js';
import { resolveProfile } from './cli-args.parser.js';

/**
 * Reuses `<dataDir>/credentials.json` when present; otherwise enrolls with --token and --profile
 * and stores the credentials (0600). Failures come back as a message for the operator.
 */
export async function ensureEnrolled(
  args: CliArgs,
  logger: Logger,
  now: () => Date = () => new Date(),
): Promise<Parsed<StoredCredentials>> {
  const existing = await loadCredentials(args.dataDir);
  if (existing !== null) {
    if (args.token !== undefined || args.profile !== undefined) {
      logger.info('already enrolled; --token and --profile are ignored', { deviceId: existing.deviceId });
    }
    return { ok: true, value: existing };
  }
  if (args.token === undefined || args.profile === undefined) {
    return { ok: false, message: `not enrolled yet (no credentials in ${args.dataDir}): --token and --profile are required` };
  }
  const profile: Parsed<ResolvedProfile> = resolveProfile(args.profile);
  if (!profile.ok) return profile;
  const response = await enroll(args.url, {
    token: args.token,
    hardwareProfile: profile.value.profile,
    ...(args.name !== undefined ? { name: args.name } : {}),
  });
  const creds: StoredCredentials = {
    schema: 1,
    ...response,
    controlPlaneUrl: args.url,
    enrolledAt: now().toISOString(),
    hardwareProfile: profile.value.profile,
    profileLabel: profile.value.label,
  };
  await saveCredentials(args.dataDir, creds);
  logger.info('enrolled', { deviceId: creds.deviceId, scenario: creds.scenario });
  return { ok: true, value: creds };
}
