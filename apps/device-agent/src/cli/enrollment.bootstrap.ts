import { setTimeout as sleep } from 'node:timers/promises';
import { enroll, isTransientEnrollmentError } from '../enrollment/enrollment.client.js';
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
 * and stores the credentials (0600). A try that got no answer or a transient refusal is tried again
 * (--enroll-attempts, default until it succeeds), and so is one the agent is run again for: the
 * enrollment's requestId waits in `<dataDir>/enrollment-pending.json`. Other failures come back as a
 * message for the operator.
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
  const request = {
    token: args.token,
    hardwareProfile: profile.value.profile,
    ...(args.name !== undefined ? { name: args.name } : {}),
    requestId,
  };
  const { tls, ...response } = await untilAnswered(args.enrollAttempts, logger, () =>
    enroll(args.url, request, undefined, trustedFetch(caFile, 'control plane URL')),
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

/** First wait before an enrollment is tried again; it doubles per try up to ENROLL_RETRY_MAX_MS. */
export const ENROLL_RETRY_FIRST_MS = 1_000;
export const ENROLL_RETRY_MAX_MS = 60_000;

/**
 * Tries the enrollment until it is answered, at most `attempts` times (0: no limit), waiting longer
 * after each try a transient failure ended, and at least as long as the control plane asked
 * (Retry-After: a provisioning line over its enrollment rate); every try is the same enrollment (one
 * requestId), so a try whose answer was lost costs nothing. Anything else (a refused token, a
 * conflict) ends it at once.
 */
export async function untilAnswered<T>(
  attempts: number,
  logger: Logger,
  attempt: () => Promise<T>,
  wait: (ms: number) => Promise<unknown> = sleep,
): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (err) {
      if (!isTransientEnrollmentError(err) || n === attempts) throw err;
      const backoff = Math.min(ENROLL_RETRY_MAX_MS, ENROLL_RETRY_FIRST_MS * 2 ** (n - 1));
      const retryInMs = Math.max(backoff, err.retryAfterMs ?? 0);
      logger.warn('enrollment not answered; trying it again', { attempt: n, retryInMs, error: err.message });
      await wait(retryInMs);
    }
  }
}
