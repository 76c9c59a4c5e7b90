import type { AlertItem } from './api-types';

export interface AlertGroup {
  /** Scenario (or "fleet-wide") and rule: how operators read alerts. */
  key: string;
  scenario: string | null;
  ruleName: string;
  severity: string;
  firing: number;
  pending: number;
  items: AlertItem[];
}

const ORDER: Record<string, number> = { firing: 0, pending: 1, resolved: 2, inactive: 3 };

/** Groups alerts by scenario, then rule; groups with firing alerts first, then by size. */
export function groupAlerts(items: readonly AlertItem[]): AlertGroup[] {
  const groups = new Map<string, AlertGroup>();
  for (const a of items) {
    const key = `${a.scenario ?? ''}\u0000${a.ruleName}`;
    let g = groups.get(key);
    if (!g) {
      g = { key, scenario: a.scenario, ruleName: a.ruleName, severity: a.severity, firing: 0, pending: 0, items: [] };
      groups.set(key, g);
    }
    g.items.push(a);
    if (a.state === 'firing') g.firing++;
    if (a.state === 'pending') g.pending++;
  }
  for (const g of groups.values()) g.items.sort((a, b) => (ORDER[a.state] ?? 9) - (ORDER[b.state] ?? 9));
  return [...groups.values()].sort(
    (a, b) => Number(b.firing > 0) - Number(a.firing > 0) || b.items.length - a.items.length || a.key.localeCompare(b.key),
  );
}
