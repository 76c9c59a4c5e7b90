'use client';

import { useActionState, useEffect, useRef } from 'react';
import { login, type LoginState } from './actions';
import { tokenFromFragment } from '@/lib/login-fragment';

const INITIAL: LoginState = { error: null };

export function LoginForm() {
  const [state, action, pending] = useActionState(login, INITIAL);
  const formRef = useRef<HTMLFormElement>(null);
  const inputRef = useRef<HTMLInputElement>(null);

  // `/login#token=…` (printed by the start script): fill and submit, and drop the token from the address bar.
  // Also on `hashchange`: pasting the link into a tab already on /login changes only the fragment.
  useEffect(() => {
    const submitFromFragment = () => {
      const token = tokenFromFragment(window.location.hash);
      if (!token || !formRef.current || !inputRef.current) return;
      window.history.replaceState(null, '', window.location.pathname + window.location.search);
      inputRef.current.value = token;
      formRef.current.requestSubmit();
    };
    submitFromFragment();
    window.addEventListener('hashchange', submitFromFragment);
    return () => window.removeEventListener('hashchange', submitFromFragment);
  }, []);

  return (
    <form ref={formRef} action={action} className="login-form">
      <label htmlFor="token">Operator token</label>
      <input ref={inputRef} id="token" name="token" type="password" autoComplete="off" required data-testid="token-input" />
      <button type="submit" disabled={pending} data-testid="login-submit">
        {pending ? 'Signing in…' : 'Sign in'}
      </button>
      {state.error && (
        <p role="alert" className="error" data-testid="login-error">
          {state.error}
        </p>
      )}
    </form>
  );
}
