import { type EnrollRequest, EnrollRequestSchema, type EnrollResponse, EnrollResponseSchema } from '@edge-fleet/shared';
import { z } from 'zod';
import { describeConnectionError, type Fetch } from '../core/tls-trust.js';

const ApiErrorSchema = z.object({ error: z.object({ code: z.string(), message: z.string() }) });

export class EnrollmentError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = 'EnrollmentError';
  }
}

/**
 * POST /api/v1/devices/enroll; every failure becomes an EnrollmentError with a readable message.
 * Over https, `fetchWith` decides whom to trust (`trustedFetch` with --ca-file): no certificate is
 * ever trusted because it was the first one seen.
 */
export async function enroll(
  controlPlaneUrl: string,
  request: EnrollRequest,
  timeoutMs = 15_000,
  fetchWith: Fetch = (url, init) => fetch(url, init),
): Promise<EnrollResponse> {
  const url = new URL('api/v1/devices/enroll', controlPlaneUrl.endsWith('/') ? controlPlaneUrl : `${controlPlaneUrl}/`);
  let res: Response;
  try {
    res = await fetchWith(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(EnrollRequestSchema.parse(request)),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    throw new EnrollmentError(`cannot reach the control plane at ${url.origin}: ${describeConnectionError(err)}`, 'unreachable');
  }
  const body: unknown = await res.json().catch(() => null);
  if (!res.ok) {
    const apiError = ApiErrorSchema.safeParse(body);
    if (apiError.success) {
      const { code, message } = apiError.data.error;
      throw new EnrollmentError(`enrollment refused (HTTP ${res.status} ${code}): ${message}`, code);
    }
    throw new EnrollmentError(`enrollment failed with HTTP ${res.status}`, `http_${res.status}`);
  }
  const parsed = EnrollResponseSchema.safeParse(body);
  if (!parsed.success) throw new EnrollmentError('the control plane sent an invalid enrollment response', 'bad_response');
  return parsed.data;
}
