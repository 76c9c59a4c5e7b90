import 'server-only';
import { OperatorSessionSchema } from '@edge-fleet/shared/api';
import { getConfig } from './config';

export type TokenCheck = 'valid' | 'invalid' | 'rate_limited' | 'unreachable';

const TIMEOUT_MS = 5_000;

/** Procedure paths as the tRPC client sends them: `a.b` or a batch `a.b,c.d`; nothing that could leave `/trpc/`. */
const PROCEDURE_PATH = /^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*(,[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*)*$/;

export function isProcedurePath(path: string): boolean {
  return path.length <= 2_000 && PROCEDURE_PATH.test(path);
}

export function trpcUrl(path: string, search = ''): string {
  return `${getConfig().CONTROL_PLANE_URL}/trpc/${path}${search}`;
}

/**
 * The browser's address for the control plane's rate limits and lockouts (RELIABILITY row 25): the
 * `X-Forwarded-For` the dashboard's server received (Next sets it from the socket when no proxy in
 * front did). Without it every failed sign-in would count against the dashboard's own address, and
 * one guesser would lock every operator out. The control plane believes it from a trusted proxy only
 * (its TRUST_PROXY; loopback by default).
 */
export function clientAddressHeaders(forwardedFor: string | null | undefined): Record<string, string> {
  return forwardedFor ? { 'x-forwarded-for': forwardedFor } : {};
}

/** Asks the control plane whether a session (or token) is still valid, by calling `fleet.overview` with it (on behalf of `forwardedFor`). */
export async function checkOperatorToken(token: string, forwardedFor?: string | null): Promise<TokenCheck> {
  if (token.length === 0 || token.length > 512) return 'invalid';
  try {
    const res = await fetch(trpcUrl('fleet.overview'), {
      headers: { authorization: `Bearer ${token}`, ...clientAddressHeaders(forwardedFor) },
      cache: 'no-store',
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    return checkOf(res.status);
  } catch {
    return 'unreachable';
  }
}

function checkOf(status: number): TokenCheck {
  if (status >= 200 && status < 300) return 'valid';
  if (status === 401 || status === 403) return 'invalid';
  if (status === 429) return 'rate_limited';
  return 'unreachable';
}

export type SignIn = { check: 'valid'; session: string; expiresAt: Date } | { check: Exclude<TokenCheck, 'valid'> };

/**
 * Sign-in: exchanges the operator token for a session at the control plane (POST /api/v1/sessions).
 * The token is used this once and never kept; only the session id goes into the cookie.
 */
export async function openSession(token: string, forwardedFor?: string | null): Promise<SignIn> {
  if (token.length === 0 || token.length > 512) return { check: 'invalid' };
  try {
    const res = await fetch(`${getConfig().CONTROL_PLANE_URL}/api/v1/sessions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, ...clientAddressHeaders(forwardedFor) },
      cache: 'no-store',
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    const check = checkOf(res.status);
    if (check !== 'valid') return { check };
    const body = OperatorSessionSchema.safeParse(await res.json());
    return body.success ? { check, session: body.data.session, expiresAt: new Date(body.data.expiresAt) } : { check: 'unreachable' };
  } catch {
    return { check: 'unreachable' };
  }
}

/** Sign-out: ends the session at the control plane (DELETE /api/v1/sessions/current); true when it is over (ended now or before). */
export async function closeSession(session: string, forwardedFor?: string | null): Promise<boolean> {
  try {
    const res = await fetch(`${getConfig().CONTROL_PLANE_URL}/api/v1/sessions/current`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${session}`, ...clientAddressHeaders(forwardedFor) },
      cache: 'no-store',
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    return res.status === 204 || res.status === 401;
  } catch {
    return false;
  }
}
