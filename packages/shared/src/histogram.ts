import { z } from 'zod';

/**
 * A mergeable latency histogram with HDR-style log-linear buckets (as HdrHistogram lays them out):
 * below {@link SUB_BUCKETS} µs one bucket per microsecond; above, every power-of-two range
 * [64·2^m, 64·2^(m+1)) µs is cut into {@link SUB_BUCKETS} equal buckets. A bucket is at most 1/64 of
 * its lower edge wide, so the bucket's midpoint is within **0.8 %** (or 0.5 µs, whichever is
 * larger) of every value recorded in it: {@link HISTOGRAM_RELATIVE_ERROR}. Values up to
 * {@link HISTOGRAM_MAX_MS} are kept apart (larger ones land in the last bucket), so a histogram has at
 * most {@link HISTOGRAM_MAX_BUCKETS} buckets whatever the traffic.
 *
 * Histograms from any number of windows and devices merge by adding counts, and a percentile read
 * off the merged histogram is the percentile of all their inferences within the bucket error: the
 * gates never take a percentile of percentiles.
 */
export const SUB_BUCKETS = 64;
/** Bucket midpoints are within this share of the values they stand for (above 64 µs). */
export const HISTOGRAM_RELATIVE_ERROR = 1 / (2 * SUB_BUCKETS);
/** Below 64 µs buckets are 1 µs wide: the midpoint is within this many ms of the value. */
export const HISTOGRAM_ABSOLUTE_ERROR_MS = 0.0005;
/** The largest latency kept apart from the next, ms (one minute). */
export const HISTOGRAM_MAX_MS = 60_000;
const MAX_MAGNITUDE = Math.ceil(Math.log2((HISTOGRAM_MAX_MS * 1000) / SUB_BUCKETS));
/** Buckets a histogram can have at most (its dense size). */
export const HISTOGRAM_MAX_BUCKETS = SUB_BUCKETS * (MAX_MAGNITUDE + 2);

/** The bucket of a latency in ms (negative and NaN count as 0; beyond the range, the last bucket). */
export function bucketOf(ms: number): number {
  const us = ms > 0 ? ms * 1000 : 0;
  if (us < SUB_BUCKETS) return Math.floor(us);
  let m = Math.floor(Math.log2(us / SUB_BUCKETS));
  // floating log2 can land one magnitude off next to a power of two
  if (SUB_BUCKETS * 2 ** m > us) m--;
  else if (SUB_BUCKETS * 2 ** (m + 1) <= us) m++;
  if (m > MAX_MAGNITUDE) return HISTOGRAM_MAX_BUCKETS - 1;
  const sub = Math.min(SUB_BUCKETS - 1, Math.floor((us - SUB_BUCKETS * 2 ** m) / 2 ** m));
  return SUB_BUCKETS + m * SUB_BUCKETS + sub;
}

/** The [low, high) edges of a bucket, ms. */
export function bucketEdges(index: number): [number, number] {
  if (index < SUB_BUCKETS) return [index / 1000, (index + 1) / 1000];
  const m = Math.floor(index / SUB_BUCKETS) - 1;
  const sub = index % SUB_BUCKETS;
  const low = SUB_BUCKETS * 2 ** m + sub * 2 ** m;
  return [low / 1000, (low + 2 ** m) / 1000];
}

/** The value a bucket stands for: its midpoint, ms. */
export function bucketValue(index: number): number {
  const [lo, hi] = bucketEdges(index);
  return (lo + hi) / 2;
}

/**
 * The wire form: the non-empty buckets as `[index, count]` pairs in increasing index order. A
 * device sends it, so it is bounded and checked like everything else a device sends.
 */
export const SparseHistogramSchema = z
  .array(
    z.tuple([
      z
        .int()
        .min(0)
        .max(HISTOGRAM_MAX_BUCKETS - 1),
      z.int().min(1).max(1e9),
    ]),
  )
  .max(HISTOGRAM_MAX_BUCKETS)
  .refine((b) => b.every((p, i) => i === 0 || p[0] > (b[i - 1] as [number, number])[0]), {
    message: 'histogram buckets must be in strictly increasing index order',
  });
export type SparseHistogram = z.infer<typeof SparseHistogramSchema>;

/**
 * The q-quantile of one sparse histogram (buckets in increasing index order), read as
 * {@link LatencyHistogram.quantile} reads it but without building the dense form: a chart of 1,440
 * stored rollups reads three percentiles of each. NaN when empty.
 */
export function sparseQuantile(buckets: readonly (readonly [number, number])[], q: number): number {
  let total = 0;
  for (const [i, c] of buckets) if (i >= 0 && i < HISTOGRAM_MAX_BUCKETS) total += c;
  if (total === 0) return Number.NaN;
  const rank = Math.max(1, Math.ceil(Math.min(1, Math.max(0, q)) * total - 1e-9));
  let seen = 0;
  for (const [i, c] of buckets) {
    if (i < 0 || i >= HISTOGRAM_MAX_BUCKETS) continue;
    seen += c;
    if (seen >= rank) return bucketValue(i);
  }
  return bucketValue(HISTOGRAM_MAX_BUCKETS - 1);
}

/** A latency histogram: record, merge, count and read percentiles. */
export class LatencyHistogram {
  private readonly counts = new Float64Array(HISTOGRAM_MAX_BUCKETS);
  private total = 0;

  static fromSparse(buckets: readonly (readonly [number, number])[]): LatencyHistogram {
    return new LatencyHistogram().addSparse(buckets);
  }

  /** Merges several sparse histograms (windows, devices) into one. */
  static merged(parts: Iterable<readonly (readonly [number, number])[]>): LatencyHistogram {
    const h = new LatencyHistogram();
    for (const p of parts) h.addSparse(p);
    return h;
  }

  record(ms: number, times = 1): void {
    const i = bucketOf(ms);
    this.counts[i] = (this.counts[i] ?? 0) + times;
    this.total += times;
  }

  /** Adds another histogram's counts, `weight` times (a bootstrap draws a device more than once). */
  addSparse(buckets: readonly (readonly [number, number])[], weight = 1): this {
    for (const [i, c] of buckets) {
      if (i < 0 || i >= HISTOGRAM_MAX_BUCKETS) continue;
      this.counts[i] = (this.counts[i] ?? 0) + c * weight;
      this.total += c * weight;
    }
    return this;
  }

  merge(other: LatencyHistogram): this {
    for (let i = 0; i < HISTOGRAM_MAX_BUCKETS; i++) this.counts[i] = (this.counts[i] ?? 0) + (other.counts[i] ?? 0);
    this.total += other.total;
    return this;
  }

  get count(): number {
    return this.total;
  }

  /** Count of bucket `index`. */
  at(index: number): number {
    return this.counts[index] ?? 0;
  }

  /**
   * The q-quantile (0..1) by nearest rank, as `percentile` in stats.ts computes it on raw samples:
   * the midpoint of the bucket holding the sample of rank ceil(q·n). NaN when empty.
   */
  quantile(q: number): number {
    if (this.total === 0) return Number.NaN;
    const rank = Math.max(1, Math.ceil(Math.min(1, Math.max(0, q)) * this.total - 1e-9));
    let seen = 0;
    for (let i = 0; i < HISTOGRAM_MAX_BUCKETS; i++) {
      seen += this.counts[i] ?? 0;
      if (seen >= rank) return bucketValue(i);
    }
    return bucketValue(HISTOGRAM_MAX_BUCKETS - 1);
  }

  /** The non-empty buckets, for the wire. */
  toSparse(): SparseHistogram {
    const out: [number, number][] = [];
    for (let i = 0; i < HISTOGRAM_MAX_BUCKETS; i++) {
      const c = this.counts[i] ?? 0;
      if (c > 0) out.push([i, Math.round(c)]);
    }
    return out;
  }

  /** Cumulative share at each non-empty bucket's upper edge: a CDF to plot. */
  cdf(): { ms: number; share: number }[] {
    const out: { ms: number; share: number }[] = [];
    let seen = 0;
    for (let i = 0; i < HISTOGRAM_MAX_BUCKETS; i++) {
      const c = this.counts[i] ?? 0;
      if (c === 0) continue;
      seen += c;
      out.push({ ms: bucketEdges(i)[1], share: seen / this.total });
    }
    return out;
  }
}
