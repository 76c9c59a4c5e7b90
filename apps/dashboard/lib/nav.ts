import type { OperatorRole } from '@edge-fleet/shared/api';

export interface NavLink {
  href: string;
  label: string;
  /** Only these roles see the link (the control plane refuses the others anyway); absent: every role. */
  roles?: readonly OperatorRole[];
}

export const NAV_LINKS: readonly NavLink[] = [
  { href: '/', label: 'Overview' },
  { href: '/devices', label: 'Devices' },
  { href: '/models', label: 'Models' },
  { href: '/rollouts', label: 'Rollouts' },
  { href: '/policies', label: 'Policies' },
  { href: '/alerts', label: 'Alerts' },
  { href: '/remediation', label: 'Remediation' },
  { href: '/energy', label: 'Energy' },
  { href: '/audit', label: 'Audit', roles: ['auditor', 'admin'] },
  { href: '/tokens', label: 'Tokens', roles: ['admin'] },
];

/** The links a role may use; before the role is known, only those open to every role. */
export function navLinksFor(role: OperatorRole | undefined): NavLink[] {
  return NAV_LINKS.filter((l) => l.roles === undefined || (role !== undefined && l.roles.includes(role)));
}
