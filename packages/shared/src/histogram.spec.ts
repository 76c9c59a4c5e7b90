import { describe, expect, it } from 'vitest';
import {
  bucketEdges,
  bucketOf,
  HISTOGRAM_ABSOLUTE_ERROR_MS,
  HISTOGRAM_MAX_BUCKETS,
  HISTOGRAM_RELATIVE_ERROR,
  LatencyHistogram,
  SparseHistogramSchema,
  sparseQuantile,
} from './histogram.js';
import { mulberry32 } from './random.js';
import { percentile } from './stats.js';

/** Log-normal latencies around `medianMs`, as inference times spread. */
function samples(rand: () => number, n: number, medianMs: number, sigma: number): number[] {
  return Array.from({ length: n }, () => {
    const z = Math.sqrt(-2 * Math.log(Math.max(rand(), 1e-12))) * Math.cos(2 * Math.PI * rand());
    return medianMs * Math.exp(sigma * z);
  });
}

const within = (got: number, want: number): boolean =>
  Math.abs(got - want) <= Math.max(HISTOGRAM_RELATIVE_ERROR * want, HISTOGRAM_ABSOLUTE_ERROR_MS) + 1e-12;

describe('LatencyHistogram', () => {
  it('places every value in a bucket whose edges hold it, contiguous and bounded', () => {
    const rand = mulberry32(7);
    for (let i = 0; i < 20_000; i++) {
      const ms = 10 ** (rand() * 7 - 3); // 1 µs .. 10 s
      const [lo, hi] = bucketEdges(bucketOf(ms));
      expect(lo - 1e-9 <= ms && ms < hi + 1e-9).toBe(true);
    }
    for (let i = 1; i < HISTOGRAM_MAX_BUCKETS; i++) expect(bucketEdges(i)[0]).toBeCloseTo(bucketEdges(i - 1)[1], 9);
    expect(bucketOf(1e9)).toBe(HISTOGRAM_MAX_BUCKETS - 1);
    expect(bucketOf(-1)).toBe(0);
  });

  it('merged quantiles match the raw samples within the bucket error (property, 200 seeded cases)', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const rand = mulberry32(seed);
      const parts = Array.from({ length: 1 + Math.floor(rand() * 8) }, () =>
        samples(rand, 1 + Math.floor(rand() * 3_000), 0.05 + rand() * 40, 0.05 + rand() * 0.8),
      );
      // each part travels as its sparse wire form, as windows do, then merges
      const merged = LatencyHistogram.merged(
        parts.map((p) => {
          const h = new LatencyHistogram();
          for (const x of p) h.record(x);
          return SparseHistogramSchema.parse(h.toSparse());
        }),
      );
      const raw = parts.flat().sort((a, b) => a - b);
      expect(merged.count).toBe(raw.length);
      for (const p of [0, 1, 50, 90, 95, 99, 99.9, 100]) {
        const want = percentile(raw, p);
        const got = merged.quantile(p / 100);
        if (!within(got, want)) throw new Error(`seed ${seed}: p${p} ${got} vs raw ${want}`);
      }
    }
  });

  it('sparseQuantile reads a sparse histogram exactly as the dense one reads (seeded)', () => {
    const rand = mulberry32(11);
    for (let k = 0; k < 50; k++) {
      const h = new LatencyHistogram();
      for (const ms of samples(rand, 1 + Math.floor(rand() * 2_000), 0.1 + rand() * 50, 0.2 + rand())) h.record(ms);
      for (const q of [0, 0.01, 0.5, 0.95, 0.99, 0.999, 1]) expect(sparseQuantile(h.toSparse(), q)).toBe(h.quantile(q));
    }
    expect(sparseQuantile([], 0.5)).toBeNaN();
  });

  it('stays bounded whatever it is fed, and reads NaN when empty', () => {
    const h = new LatencyHistogram();
    expect(h.quantile(0.99)).toBeNaN();
    const rand = mulberry32(3);
    for (let i = 0; i < 100_000; i++) h.record(10 ** (rand() * 9 - 4));
    expect(h.toSparse().length).toBeLessThanOrEqual(HISTOGRAM_MAX_BUCKETS);
    expect(SparseHistogramSchema.safeParse(h.toSparse()).success).toBe(true);
  });

  it('refuses a hostile wire form: unsorted, duplicate, negative, fractional or out-of-range buckets, too many', () => {
    for (const bad of [
      [
        [5, 1],
        [3, 1],
      ],
      [
        [5, 1],
        [5, 1],
      ],
      [[-1, 1]],
      [[1, 0.5]],
      [[1, -3]],
      [[HISTOGRAM_MAX_BUCKETS, 1]],
      Array.from({ length: HISTOGRAM_MAX_BUCKETS + 1 }, (_, i) => [i, 1]),
    ]) {
      expect(SparseHistogramSchema.safeParse(bad).success).toBe(false);
    }
  });
});
