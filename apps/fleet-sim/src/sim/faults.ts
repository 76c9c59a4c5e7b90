import { z } from 'zod';
import { createPrng, shuffled } from '../core/prng.js';

export const FAULT_KINDS = ['slow', 'errorBurst', 'powerSpike', 'silent', 'flap', 'failDownload', 'crashActivation'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

const share = z.number().min(0).max(1);
/** Share of the fleet (0..1) that gets each fault. */
export const FaultSharesSchema = z.strictObject({
  slow: share.default(0),
  errorBurst: share.default(0),
  powerSpike: share.default(0),
  silent: share.default(0),
  flap: share.default(0),
  failDownload: share.default(0),
  crashActivation: share.default(0),
});
export type FaultShares = z.infer<typeof FaultSharesSchema>;

export type FaultSet = ReadonlySet<FaultKind>;

/**
 * Picks exactly round(share × n) devices per fault, independently per fault, from a seeded shuffle:
 * the same seed gives the same devices the same faults on every run.
 */
export function selectFaults(n: number, shares: FaultShares, seed: number): FaultSet[] {
  const sets = Array.from({ length: n }, () => new Set<FaultKind>());
  const indices = Array.from({ length: n }, (_, i) => i);
  FAULT_KINDS.forEach((kind, k) => {
    const count = Math.round(shares[kind] * n);
    if (count === 0) return;
    const rand = createPrng((seed ^ Math.imul(k + 1, 0x9e3779b1)) >>> 0);
    for (const i of shuffled(indices, rand).slice(0, count)) sets[i]?.add(kind);
  });
  return sets;
}

/** How many devices carry each fault. */
export function faultCounts(sets: readonly FaultSet[]): Record<FaultKind, number> {
  const counts: Record<FaultKind, number> = {
    slow: 0,
    errorBurst: 0,
    powerSpike: 0,
    silent: 0,
    flap: 0,
    failDownload: 0,
    crashActivation: 0,
  };
  for (const s of sets) for (const k of s) counts[k] += 1;
  return counts;
}

/** Per-window fault behaviour; a small state machine per device, driven by its own PRNG. */
export interface WindowEffects {
  errorRate: number;
  powerFactor: number;
}

export class FaultState {
  private burstLeft = 0;

  constructor(
    private readonly faults: FaultSet,
    private readonly rand: () => number,
  ) {}

  has(kind: FaultKind): boolean {
    return this.faults.has(kind);
  }

  /** Error bursts start in 20 % of windows and last 1–3 windows at 30–100 % errors; power spikes hit 20 % of windows at 2–4×. */
  nextWindow(baseErrorRate = 0.001): WindowEffects {
    let errorRate = baseErrorRate;
    if (this.faults.has('errorBurst')) {
      if (this.burstLeft === 0 && this.rand() < 0.2) this.burstLeft = 1 + Math.floor(this.rand() * 3);
      if (this.burstLeft > 0) {
        this.burstLeft -= 1;
        errorRate = 0.3 + 0.7 * this.rand();
      }
    }
    const powerFactor = this.faults.has('powerSpike') && this.rand() < 0.2 ? 2 + 2 * this.rand() : 1;
    return { errorRate, powerFactor };
  }
}
