import 'server-only';
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

/** Asks the control plane whether a token is an operator token, by calling `fleet.overview` with it (on behalf of `forwardedFor`). */
export async function checkOperatorToken(token: string, forwardedFor?: string | null): Promise<TokenCheck> {
  if (token.length === 0 || token.length > 512) return 'invalid';
  try {
    const res = await fetch(trpcUrl('fleet.overview'), {
      headers: { authorization: `Bearer ${token}`, ...clientAddressHeaders(forwardedFor) },
      cache: 'no-store',
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    if (res.ok) return 'valid';
    if (res.status === 401 || res.status === 403) return 'invalid';
    if (res.status === 429) return 'rate_limited';
    return 'unreachable';
  } catch {
    return 'unreachable';
  }
}
