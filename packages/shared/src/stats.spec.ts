import { describe, expect, it } from 'vitest';
import { percentile } from './stats.js';

describe('percentile (nearest rank)', () => {
  const hundred = Array.from({ length: 100 }, (_, i) => i + 1);

  it('gives the sample at rank ceil(p/100 · n) of 1..100', () => {
    expect(percentile(hundred, 50)).toBe(50);
    expect(percentile(hundred, 95)).toBe(95);
    expect(percentile(hundred, 99)).toBe(99);
    expect(percentile(hundred, 99.5)).toBe(100);
  });

  it('gives the smallest sample at p = 0 and the largest at p = 100', () => {
    expect(percentile([3, 5, 8], 0)).toBe(3);
    expect(percentile([3, 5, 8], 100)).toBe(8);
  });

  it('never interpolates: the answer is one of the samples', () => {
    expect(percentile([1, 2, 3, 4], 50)).toBe(2);
    expect(percentile([10, 20], 51)).toBe(20);
    expect(percentile([10, 20, 30, 40, 50], 90)).toBe(50);
    expect(percentile([10, 20, 30, 40, 50], 80)).toBe(40);
  });

  it('gives the one sample of a single-sample set at every p', () => {
    for (const p of [0, 1, 50, 99, 100]) expect(percentile([7], p)).toBe(7);
  });

  it('reads a sorted typed array as well', () => {
    expect(percentile(Float64Array.from([0.5, 1.5, 2.5]), 50)).toBe(1.5);
  });

  it('is NaN for no samples', () => {
    expect(percentile([], 50)).toBeNaN();
  });

  it('refuses a p outside 0..100', () => {
    expect(() => percentile(hundred, -1)).toThrow(RangeError);
    expect(() => percentile(hundred, 101)).toThrow(RangeError);
    expect(() => percentile(hundred, Number.NaN)).toThrow(RangeError);
  });
});
