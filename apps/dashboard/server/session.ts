/**
 * httpOnly, SameSite=Strict cookie holding the dashboard session id the control plane issued at
 * sign-in (never the operator token): signing out ends the session server-side, so a copied cookie
 * stops working with it. Renamed from `ef_operator`, which held the raw token, so such a cookie is
 * never sent on.
 */
export const SESSION_COOKIE = 'ef_session';

/** What the control plane's session credentials start with; any other cookie value is not forwarded. */
export const SESSION_PREFIX = 'eft_ses_';

export function isSessionCredential(value: string | undefined): value is string {
  return value !== undefined && value.startsWith(SESSION_PREFIX) && /^[A-Za-z0-9_-]{16,256}$/.test(value);
}

/** The cookie lives as long as the session (the control plane decides how long: OPERATOR_SESSION_HOURS). */
export function sessionCookieOptions(secure: boolean, expiresAt: Date) {
  return {
    httpOnly: true,
    sameSite: 'strict' as const,
    secure,
    path: '/',
    expires: expiresAt,
  };
}
