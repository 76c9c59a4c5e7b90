'use server';

import { cookies, headers } from 'next/headers';
import { redirect } from 'next/navigation';
import { checkOperatorToken } from '@/server/control-plane';
import { SESSION_COOKIE, sessionCookieOptions } from '@/server/session';

export interface LoginState {
  error: string | null;
}

const INVALID_TOKEN_MESSAGE = 'That operator token is not valid';

/** Validates the token against the control plane and, if it is an operator token, keeps it in the session cookie. */
export async function login(_prev: LoginState, form: FormData): Promise<LoginState> {
  const raw = form.get('token');
  const token = typeof raw === 'string' ? raw.trim() : '';
  const check = await checkOperatorToken(token, (await headers()).get('x-forwarded-for'));
  switch (check) {
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
  const secure = (await headers()).get('x-forwarded-proto') === 'https';
  (await cookies()).set(SESSION_COOKIE, token, sessionCookieOptions(secure));
  redirect('/');
}

export async function logout(): Promise<void> {
  (await cookies()).delete(SESSION_COOKIE);
  redirect('/login');
}
