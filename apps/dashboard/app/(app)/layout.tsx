import type { ReactNode } from 'react';
import { cookies, headers } from 'next/headers';
import { redirect } from 'next/navigation';
import { NavBar } from '@/components/nav-bar';
import { QueryProvider } from '@/components/query-provider';
import { checkOperatorToken } from '@/server/control-plane';
import { isSessionCredential, SESSION_COOKIE } from '@/server/session';

/**
 * Every operator page sits under this layout: the session cookie is checked against the control plane
 * here (proxy.ts only checks that a cookie exists). An unreachable control plane is not a reason to sign out.
 */
export default async function OperatorLayout({ children }: { children: ReactNode }) {
  const session = (await cookies()).get(SESSION_COOKIE)?.value;
  if (!isSessionCredential(session)) redirect('/login');
  const check = await checkOperatorToken(session, (await headers()).get('x-forwarded-for'));
  if (check === 'invalid') redirect('/login');
  return (
    <QueryProvider>
      <NavBar />
      {check === 'unreachable' && (
        <p className="banner error" role="alert">
          The control plane cannot be reached; figures below will appear once it answers.
        </p>
      )}
      <main className="page">{children}</main>
    </QueryProvider>
  );
}
