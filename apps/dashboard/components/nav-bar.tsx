'use client';

import Link from 'next/link';
import { usePathname } from 'next/navigation';
import { logout } from '@/app/login/actions';

const LINKS = [
  { href: '/', label: 'Overview' },
  { href: '/devices', label: 'Devices' },
  { href: '/models', label: 'Models' },
  { href: '/rollouts', label: 'Rollouts' },
  { href: '/policies', label: 'Policies' },
  { href: '/alerts', label: 'Alerts' },
  { href: '/remediation', label: 'Remediation' },
  { href: '/energy', label: 'Energy' },
] as const;

function isActive(pathname: string, href: string): boolean {
  return href === '/' ? pathname === '/' : pathname === href || pathname.startsWith(`${href}/`);
}

export function NavBar() {
  const pathname = usePathname();
  return (
    <header className="nav">
      <span className="brand">Edge Fleet</span>
      <nav>
        {LINKS.map((l) => (
          <Link key={l.href} href={l.href} className={isActive(pathname, l.href) ? 'active' : undefined}>
            {l.label}
          </Link>
        ))}
      </nav>
      <form action={logout} className="logout">
        <button type="submit" className="link-button" data-testid="logout">
          Sign out
        </button>
      </form>
    </header>
  );
}
