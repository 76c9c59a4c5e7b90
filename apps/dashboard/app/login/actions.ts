'use server';

import { cookies, headers } from 'next/headers';
import { redirect } from 'next/navigation';
import { closeSession, openSession } from '@/server/control-plane';
import { isSessionCredential, SESSION_COOKIE, sessionCookieOptions } from '@/server/session';

export interface LoginState {
  error: string | null;
}

const INVALID_TOKEN_MESSAGE = 'That operator token is not valid';

/** Exchanges the operator token for a server-side session at the control plane; the cookie holds only the session id. */
export async function login(_prev: LoginState, form: FormData): Promise<LoginState> {
  const raw = form.get('token');
  const token = typeof raw === 'string' ? raw.trim() : '';
  const h = await headers();
  const signIn = await openSession(token, h.get('x-forwarded-for'));
  switch (signIn.check) {
    case 'invalid':
      return { error: INVALID_TOKEN_MESSAGE };
    case 'rate_limited':
      return { error: 'Too many failed sign-ins from this address; try again in a few minutes' };
    case 'unreachable':
      return { error: 'The control plane cannot be reached; try again in a moment' };
    case 'valid':
      break;
  }
  // Secure cookies only over https, so a loopback http deployment still works.
  const secure = h.get('x-forwarded-proto') === 'https';
  (await cookies()).set(SESSION_COOKIE, signIn.session, sessionCookieOptions(secure, signIn.expiresAt));
  redirect('/');
}

/** Ends the session at the control plane (a copy of the cookie is refused from then on), then drops the cookie. */
export async function logout(): Promise<void> {
  const jar = await cookies();
  const session = jar.get(SESSION_COOKIE)?.value;
  if (isSessionCredential(session)) await closeSession(session, (await headers()).get('x-forwarded-for'));
  jar.delete(SESSION_COOKIE);
  redirect('/login');
}
