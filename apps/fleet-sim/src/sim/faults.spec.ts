import { describe, expect, it } from 'vitest';
import { createPrng } from '../core/prng.js';
import { FaultSharesSchema, FaultState, faultCounts, selectFaults } from './faults.js';

describe('fault selection', () => {
  const shares = FaultSharesSchema.parse({ slow: 0.1, flap: 0.25, crashActivation: 0.01 });

  it('gives exactly the requested share of the fleet each fault', () => {
    const counts = faultCounts(selectFaults(1_000, shares, 42));
    expect(counts).toMatchObject({ slow: 100, flap: 250, crashActivation: 10, silent: 0, errorBurst: 0 });
  });

  it('is the same for the same seed and different for another', () => {
    const ids = (seed: number) => selectFaults(1_000, shares, seed).flatMap((s, i) => (s.has('slow') ? [i] : []));
    expect(ids(42)).toEqual(ids(42));
    expect(ids(42)).not.toEqual(ids(43));
  });

  it('picks each fault independently of the others', () => {
    const sets = selectFaults(10_000, FaultSharesSchema.parse({ slow: 0.5, flap: 0.5 }), 7);
    const both = sets.filter((s) => s.has('slow') && s.has('flap')).length;
    expect(both).toBeGreaterThan(2_300);
    expect(both).toBeLessThan(2_700);
  });

  it('rejects shares outside 0..1', () => {
    expect(FaultSharesSchema.safeParse({ slow: 1.5 }).success).toBe(false);
  });
});

describe('per-window fault effects', () => {
  it('error bursts raise the error rate in some windows; healthy devices stay at the base rate', () => {
    const burst = new FaultState(new Set(['errorBurst']), createPrng(3));
    const rates = Array.from({ length: 200 }, () => burst.nextWindow().errorRate);
    expect(rates.filter((r) => r >= 0.3).length).toBeGreaterThan(20);
    const healthy = new FaultState(new Set(), createPrng(3));
    expect(Array.from({ length: 200 }, () => healthy.nextWindow()).every((e) => e.errorRate < 0.01 && e.powerFactor === 1)).toBe(true);
  });

  it('power spikes multiply power by 2–4 in some windows', () => {
    const spiky = new FaultState(new Set(['powerSpike']), createPrng(9));
    const factors = Array.from({ length: 200 }, () => spiky.nextWindow().powerFactor).filter((f) => f > 1);
    expect(factors.length).toBeGreaterThan(20);
    expect(Math.min(...factors)).toBeGreaterThanOrEqual(2);
    expect(Math.max(...factors)).toBeLessThanOrEqual(4);
  });
});
