import { enroll } from '../enrollment/enrollment.client.js';
import { readCaFile, trustedFetch } from '../core/tls-trust.js';
import type { Logger } from '../core/logger.js';
import {
  enrollmentFinished,
  enrollmentRequestId,
  loadCredentials,
  saveCredentials,
  type StoredCredentials,
} from '../storage/credentials.store.js';
import type { CliArgs, Parsed, ResolvedProfile } from './cli-args.parser.js';
import { resolveProfile } from './cli-args.parser.js';

/**
 * Reuses `<dataDir>/credentials.json` when present; otherwise enrolls with --token and --profile
 * and stores the credentials (0600). Failures come back as a message for the operator; a try that
 * failed without an answer is repeated safely by running the agent again with the same token (the
 * enrollment's requestId waits in `<dataDir>/enrollment-pending.json`).
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
  // the first connection is verified too: against --ca-file, or the system's roots (no trust on first use)
  const caFile = args.caFile === undefined ? null : await readCaFile(args.caFile);
  // on disk before the first try: a try whose answer is lost is repeated as the same enrollment
  const requestId = await enrollmentRequestId(args.dataDir, args.token, now());
  const { tls, ...response } = await enroll(
    args.url,
    {
      token: args.token,
      hardwareProfile: profile.value.profile,
      ...(args.name !== undefined ? { name: args.name } : {}),
      requestId,
    },
    undefined,
    trustedFetch(caFile, 'control plane URL'),
  );
  // from now on only the CA the control plane named (or, without one, --ca-file) is trusted
  const pinned = tls?.caCertificate ?? caFile;
  if (tls !== undefined && !args.url.startsWith('https:'))
    logger.warn('enrolled over plain http: the CA now pinned came without verification; enroll over https with --ca-file', {
      url: args.url,
    });
  const creds: StoredCredentials = {
    schema: 1,
    ...response,
    ...(pinned === null ? {} : { tls: { caCertificate: pinned } }),
    controlPlaneUrl: args.url,
    enrolledAt: now().toISOString(),
    hardwareProfile: profile.value.profile,
    profileLabel: profile.value.label,
  };
  await saveCredentials(args.dataDir, creds);
  await enrollmentFinished(args.dataDir);
  logger.info('enrolled', { deviceId: creds.deviceId, scenario: creds.scenario });
  return { ok: true, value: creds };
}
