import { createElement } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import { GateComparison } from '@/components/gate-comparison';

const cls = {
  hardwareClass: 'edge-npu-40t',
  percentile: 'p99' as const,
  verdict: 'failed' as const,
  why: 'p99 +31 % (+1.1 ms) vs baseline on edge-npu-40t: significant and beyond +15 % and 0.2 ms',
  canary: {
    devices: 10,
    windows: 60,
    inferences: 30_000,
    quantileMs: 4.7,
    cdf: [
      [2, 0.5],
      [4.7, 0.99],
      [6, 1],
    ] as [number, number][],
  },
  baseline: {
    devices: 30,
    windows: 180,
    inferences: 90_000,
    quantileMs: 3.6,
    cdf: [
      [1.6, 0.5],
      [3.6, 0.99],
      [5, 1],
    ] as [number, number][],
  },
  effect: 0.31,
  effectMs: 1.1,
  interval: [0.2, 0.42] as [number, number],
  pValue: 0.0009,
  confidence: 0.99,
  thresholds: { relative: 0.15, absoluteMs: 0.2 },
  evidence: { minInferences: 1000, minWindows: 3 },
};

describe('GateComparison', () => {
  it('shows per hardware class the verdict, counts, effect, interval, p-value, why and a CDF plot of canary vs baseline', () => {
    const html = renderToStaticMarkup(createElement(GateComparison, { classes: [cls] }));
    for (const text of [
      'edge-npu-40t',
      'failed',
      '10 device(s), 60 window(s), 30,000 inferences',
      '+31 % (+1.1 ms)',
      '[+20 %, +42 %] at 99 %',
      '&lt; 0.001',
      'significant and beyond',
      'data-testid="cdf-edge-npu-40t"',
      'class="cdf-canary"',
      'class="cdf-baseline"',
    ])
      expect(html).toContain(text);
  });
});
