import { describe, expect, it } from 'vitest';
import { bucketOf, LatencyHistogram } from '@edge-fleet/shared/histogram';
import { LatencyWindow, summarise } from './latency.window.js';

// the percentile itself is tested where it lives, packages/shared/src/stats.spec.ts
describe('summarise', () => {
  it('summarises unsorted samples', () => {
    expect(summarise([5, 1, 3, 2, 4], 5)).toEqual({ p50: 3, p95: 5, p99: 5, max: 5 });
    expect(summarise([], 0)).toBeNull();
  });
});

describe('LatencyWindow', () => {
  it('counts inferences, errors and busy time and resets on drain', () => {
    const w = new LatencyWindow();
    w.record(2, true);
    w.record(4, true);
    w.record(10, false); // non-finite output: measured, but an error
    w.record(null, false); // threw: no latency
    const stats = w.drain();
    expect(stats).toEqual({
      inferences: 4,
      errors: 2,
      busyMs: 16,
      latencyMs: { p50: 4, p95: 10, p99: 10, max: 10 },
      histogram: [
        [bucketOf(2), 1],
        [bucketOf(4), 1],
        [bucketOf(10), 1],
      ],
    });
    expect(w.drain()).toEqual({ inferences: 0, errors: 0, busyMs: 0, latencyMs: null, histogram: null });
  });

  it('keeps memory bounded past capacity while max and counts stay exact', () => {
    const w = new LatencyWindow(1_000, 3);
    for (let i = 1; i <= 50_000; i++) w.record(i % 1_000 === 0 ? 500 : 1, true);
    w.record(9_999, true);
    const stats = w.drain();
    expect(stats.inferences).toBe(50_001);
    expect(stats.latencyMs?.max).toBe(9_999);
    expect(stats.latencyMs?.p50).toBe(1);
  });

  it("issue 17: records every timed inference in the window's histogram, also past the reservoir's capacity", () => {
    const w = new LatencyWindow(100, 3);
    for (let i = 0; i < 10_000; i++) w.record(i < 9_890 ? 1 : 50, true);
    w.record(null, false);
    const h = LatencyHistogram.fromSparse(w.drain().histogram ?? []);
    expect(h.count).toBe(10_000);
    // the reservoir of 100 would almost surely miss the slow 1.1 %; the histogram's p99 sees them
    expect(h.quantile(0.99)).toBeCloseTo(50, 0);
    expect(h.quantile(0.98)).toBeCloseTo(1, 1);
  });
});
