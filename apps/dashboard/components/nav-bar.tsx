'use client';

import { useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { usePathname } from 'next/navigation';
import { logout } from '@/app/login/actions';
import { navLinksFor } from '@/lib/nav';
import { useTRPC } from '@/lib/trpc';

function isActive(pathname: string, href: string): boolean {
  return href === '/' ? pathname === '/' : pathname === href || pathname.startsWith(`${href}/`);
}

export function NavBar() {
  const pathname = usePathname();
  const trpc = useTRPC();
  const me = useQuery(trpc.session.me.queryOptions(undefined, { staleTime: 60_000 }));
  return (
    <header className="nav">
      <span className="brand">Edge Fleet</span>
      <nav>
        {navLinksFor(me.data?.role).map((l) => (
          <Link key={l.href} href={l.href} className={isActive(pathname, l.href) ? 'active' : undefined}>
            {l.label}
          </Link>
        ))}
      </nav>
      {me.data && (
        <span className="muted" data-testid="nav-who">
          {me.data.name} · {me.data.role}
        </span>
      )}
      <form action={logout} className="logout">
        <button type="submit" className="link-button" data-testid="logout">
          Sign out
        </button>
      </form>
    </header>
  );
}
