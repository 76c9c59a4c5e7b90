import 'server-only';
import { getConfig } from './config';

export type TokenCheck = 'valid' | 'invalid' | 'unreachable';

const TIMEOUT_MS = 5_000;

/** Procedure paths as the tRPC client sends them: `a.b` or a batch `a.b,c.d`; nothing that could leave `/trpc/`. */
const PROCEDURE_PATH = /^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*(,[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*)*$/;

export function isProcedurePath(path: string): boolean {
  return path.length <= 2_000 && PROCEDURE_PATH.test(path);
}

export function trpcUrl(path: string, search = ''): string {
  return `${getConfig().CONTROL_PLANE_URL}/trpc/${path}${search}`;
}

/** Asks the control plane whether a token is an operator token, by calling `fleet.overview` with it. */
export async function checkOperatorToken(token: string): Promise<TokenCheck> {
  if (token.length === 0 || token.length > 512) return 'invalid';
  try {
    const res = await fetch(trpcUrl('fleet.overview'), {
      headers: { authorization: `Bearer ${token}` },
      cache: 'no-store',
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    if (res.ok) return 'valid';
    if (res.status === 401 || res.status === 403) return 'invalid';
    return 'unreachable';
  } catch {
    return 'unreachable';
  }
}
