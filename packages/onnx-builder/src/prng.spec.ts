import { describe, expect, it } from 'vitest';
import { glorotUniform, mulberry32 } from './prng.js';

describe('mulberry32', () => {
  it('repeats its sequence for a seed and stays in [0, 1)', () => {
    const a = Array.from({ length: 1000 }, mulberry32(42));
    const b = Array.from({ length: 1000 }, mulberry32(42));
    expect(a).toEqual(b);
    expect(a.every((v) => v >= 0 && v < 1)).toBe(true);
    expect(new Set(a).size).toBe(1000);
    expect(Array.from({ length: 10 }, mulberry32(43))).not.toEqual(a.slice(0, 10));
  });

  it('draws Glorot weights within ±sqrt(6 / (fanIn + fanOut))', () => {
    const w = glorotUniform(mulberry32(1), 10, 14);
    expect(w).toHaveLength(140);
    expect(w.every((v) => Math.abs(v) <= 0.5)).toBe(true);
    expect(Math.max(...w.map(Math.abs))).toBeGreaterThan(0.4);
  });
});
