import { describe, expect, it } from 'vitest';
import { groupAlerts } from './alerts';
import type { AlertItem } from './api-types';

const alert = (over: Partial<AlertItem>): AlertItem => ({
  id: 'a',
  fingerprint: '0123456789abcdef',
  ruleId: 'r',
  ruleName: 'latency_over_target',
  metric: 'latency_ms',
  severity: 'critical',
  scenario: 'financial_trading',
  subject: 'd1',
  state: 'pending',
  value: 12,
  threshold: 10,
  activeAt: null,
  firedAt: null,
  resolvedAt: null,
  silencedBy: null,
  ...over,
});

describe('groupAlerts', () => {
  it('groups by scenario and rule, firing groups first, firing alerts first within a group', () => {
    const groups = groupAlerts([
      alert({ id: '1', ruleName: 'power_over_budget', state: 'pending' }),
      alert({ id: '2', state: 'pending' }),
      alert({ id: '3', state: 'firing' }),
      alert({ id: '4', scenario: null, ruleName: 'device_offline', state: 'pending' }),
    ]);
    expect(groups.map((g) => [g.scenario, g.ruleName, g.firing, g.pending])).toEqual([
      ['financial_trading', 'latency_over_target', 1, 1],
      [null, 'device_offline', 0, 1],
      ['financial_trading', 'power_over_budget', 0, 1],
    ]);
    expect(groups[0]?.items.map((a) => a.id)).toEqual(['3', '2']);
  });
});
