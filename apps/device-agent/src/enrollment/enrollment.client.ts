import { type EnrollRequest, EnrollRequestSchema, type EnrollResponse, EnrollResponseSchema } from '@edge-fleet/shared';
import { z } from 'zod';
import { describeConnectionError, tlsRefusal, type Fetch } from '../core/tls-trust.js';

const ApiErrorSchema = z.object({ error: z.object({ code: z.string(), message: z.string() }) });

/**
 * How long the agent waits for the control plane's answer to its enrollment. Longer than the
 * server's worst case on a loaded machine: its enrollment transaction may wait 5 s for a database
 * connection and then run up to 15 s (control plane `TRANSACTION_DEFAULTS`), ~20 s in all. Giving
 * up sooner abandons an enrollment the server may still complete, using the token up without the
 * device ever receiving its credentials.
 */
export const ENROLL_TIMEOUT_MS = 30_000;

/**
 * Failures another try of the same enrollment may get past: no answer or a cut one, the control
 * plane (or its database or broker) away or busy. A refused token, a conflict, an invalid request or
 * an untrusted certificate is answered the same way every time.
 */
export function isTransientEnrollmentError(e: unknown): e is EnrollmentError {
  if (!(e instanceof EnrollmentError)) return false;
  return (
    ['timeout', 'unreachable', 'bad_response', 'unavailable', 'rate_limited', 'internal'].includes(e.code) || /^http_5\d\d$/.test(e.code)
  );
}

export class EnrollmentError extends Error {
  constructor(
    message: string,
    readonly code: string,
    /** How long the control plane asked to be left alone (its Retry-After), when it said. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'EnrollmentError';
  }
}

/** Longest Retry-After the agent takes at its word (a lockout of an address lasts minutes, not days). */
const RETRY_AFTER_MAX_MS = 3_600_000;

/** A Retry-After header (seconds, or an HTTP date) as ms from `now`; undefined when absent or unreadable. */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (header === null || header.trim() === '') return undefined;
  const ms = /^\d+$/.test(header.trim()) ? Number(header) * 1_000 : Date.parse(header) - now;
  return Number.isFinite(ms) ? Math.min(RETRY_AFTER_MAX_MS, Math.max(0, ms)) : undefined;
}

/**
 * POST /api/v1/devices/enroll; every failure becomes an EnrollmentError with a readable message.
 * Over https, `fetchWith` decides whom to trust (`trustedFetch` with --ca-file): no certificate is
 * ever trusted because it was the first one seen.
 */
export async function enroll(
  controlPlaneUrl: string,
  request: EnrollRequest,
  timeoutMs = ENROLL_TIMEOUT_MS,
  fetchWith: Fetch = (url, init) => fetch(url, init),
): Promise<EnrollResponse> {
  const url = new URL('api/v1/devices/enroll', controlPlaneUrl.endsWith('/') ? controlPlaneUrl : `${controlPlaneUrl}/`);
  // the control plane may have enrolled the device without its answer arriving whole
  const again =
    request.requestId === undefined
      ? 'it may still have enrolled the device and used the token up: check the device list before enrolling again'
      : `run the agent again with the same token: the control plane recognises this enrollment (${request.requestId}) if it made the device`;
  let res: Response;
  try {
    res = await fetchWith(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(EnrollRequestSchema.parse(request)),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    if (err instanceof Error && err.name === 'TimeoutError')
      throw new EnrollmentError(`no answer from the control plane at ${url.origin} within ${timeoutMs / 1000} s; ${again}`, 'timeout');
    // a certificate the trusted CA did not sign is refused again on every try: not worth another
    if (tlsRefusal(err) !== null)
      throw new EnrollmentError(`cannot reach the control plane at ${url.origin}: ${describeConnectionError(err)}`, 'untrusted');
    throw new EnrollmentError(`cannot reach the control plane at ${url.origin}: ${describeConnectionError(err)}; ${again}`, 'unreachable');
  }
  const body: unknown = await res.json().catch(() => null);
  if (!res.ok) {
    const apiError = ApiErrorSchema.safeParse(body);
    const wait = retryAfterMs(res.headers.get('retry-after'));
    if (apiError.success) {
      const { code, message } = apiError.data.error;
      throw new EnrollmentError(`enrollment refused (HTTP ${res.status} ${code}): ${message}`, code, wait);
    }
    throw new EnrollmentError(`enrollment failed with HTTP ${res.status}`, `http_${res.status}`, wait);
  }
  const parsed = EnrollResponseSchema.safeParse(body);
  if (!parsed.success) throw new EnrollmentError(`the control plane sent an invalid or cut enrollment response; ${again}`, 'bad_response');
  return parsed.data;
}
