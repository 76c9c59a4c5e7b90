import { describe, expect, it } from 'vitest';
import { cdfPlot, formatEffect, formatInterval, formatPValue, verdictOf } from './gate-comparison';

describe('gate comparison display', () => {
  it('reads a verdict, also from results stored before insufficient evidence existed', () => {
    expect(verdictOf({ outcome: 'insufficient_evidence', passed: false })).toBe('insufficient_evidence');
    expect(verdictOf({ passed: true })).toBe('passed');
    expect(verdictOf({ passed: false })).toBe('failed');
  });
  it('formats the effect, its interval and the p-value', () => {
    expect(formatEffect(0.3124, 1.049)).toBe('+31.2 % (+1.05 ms)');
    expect(formatEffect(-0.05, -0.1)).toBe('-5 % (-0.1 ms)');
    expect(formatEffect(null, null)).toBe('—');
    expect(formatInterval([0.121, 0.503], 0.99)).toBe('[+12.1 %, +50.3 %] at 99 %');
    expect(formatPValue(0.0004)).toBe('< 0.001');
    expect(formatPValue(0.237)).toBe('0.24');
  });
  it('draws both CDFs as steps on one axis up to the larger 99.9th percentile', () => {
    const p = cdfPlot(
      [
        [1, 0.5],
        [2, 1],
      ],
      [
        [1, 0.9],
        [4, 1],
      ],
      100,
      50,
    );
    expect(p?.maxMs).toBe(4);
    expect(p?.canary).toBe('M0 50 H25.0 V25.0 H50.0 V0.0 H100');
    expect(p?.baseline).toBe('M0 50 H25.0 V5.0 H100.0 V0.0 H100');
    expect(p?.ticks.at(-1)).toEqual({ x: 100, label: '4 ms' });
    expect(cdfPlot([], [[1, 1]], 10, 10)).toBeNull();
  });
});
