/** httpOnly, SameSite=Strict cookie holding the operator's bearer token; never readable by page scripts. */
export const SESSION_COOKIE = 'ef_operator';

export const SESSION_MAX_AGE_SECONDS = 7 * 24 * 60 * 60;

export function sessionCookieOptions(secure: boolean) {
  return {
    httpOnly: true,
    sameSite: 'strict' as const,
    secure,
    path: '/',
    maxAge: SESSION_MAX_AGE_SECONDS,
  };
}
