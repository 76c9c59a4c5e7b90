import { bucketValue, LatencyHistogram, type SparseHistogram } from './histogram.js';
import { mulberry32, type Random } from './random.js';

/**
 * The statistics behind the latency gates: how much evidence a percentile needs, and a canary vs
 * baseline comparison of one percentile as a test with a stated confidence (what Kayenta's
 * Mann–Whitney judge does for means, done here for the tier's percentile by bootstrap).
 */

/** One device's latency evidence: its windows' histograms merged. */
export interface DeviceDistribution {
  deviceId: string;
  histogram: SparseHistogram;
  windows: number;
}

export interface EvidenceRule {
  /** Inferences a device (and a cohort) needs before its percentile is judged. */
  minInferences: number;
  /** Telemetry windows it needs: several windows, so one burst of scheduler noise cannot decide. */
  minWindows: number;
}

/**
 * The default minimum evidence for the q-quantile: 10 / (1 − q) inferences (p99: 1,000, so about
 * ten samples lie beyond the percentile; p95: 200; p50: 20) and 3 windows.
 */
export function defaultEvidence(q: number): EvidenceRule {
  return { minInferences: Math.ceil(10 / Math.max(1e-6, 1 - q) - 1e-9), minWindows: 3 };
}

export interface CohortSummary {
  devices: number;
  windows: number;
  inferences: number;
  /** The percentile read off the merged distribution, ms (null when empty). */
  quantileMs: number | null;
}

export interface Comparison {
  canary: CohortSummary;
  baseline: CohortSummary;
  /** canary / baseline − 1 at the percentile (point estimate from the merged distributions). */
  effect: number;
  /** canary − baseline at the percentile, ms. */
  effectMs: number;
  /** The two-sided interval of `effect` at `confidence` (bootstrap percentile interval). */
  interval: [number, number];
  /** One-sided: the share of bootstrap replicates showing no regression (effect ≤ 0). */
  pValue: number;
  confidence: number;
  /** The lower bound of the interval is above zero. */
  significant: boolean;
}

export interface CompareOptions {
  q: number;
  confidence: number;
  iterations: number;
  seed: number;
  /**
   * `cohort`: each replicate redraws as many devices as each cohort has (a cluster bootstrap: the
   * spread between devices counts, not only the spread between inferences). `device`: the canary
   * side is one device, compared with one baseline device drawn at random per replicate, so a device
   * fails only when it is slower than the baseline devices themselves vary.
   */
  mode: 'cohort' | 'device';
}

/** Standard normal draw (Box–Muller) from a uniform source. */
function gaussian(rand: Random): number {
  const u = Math.max(rand(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}

/** A cohort prepared for fast resampling: every device's counts laid out on the cohort's shared buckets. */
class Resampler {
  private readonly values: number[];
  private readonly rows: { pos: Int32Array; counts: Float64Array; n: number }[];
  private readonly acc: Float64Array;

  constructor(devices: readonly DeviceDistribution[]) {
    const idx = [...new Set(devices.flatMap((d) => d.histogram.map(([i]) => i)))].sort((a, b) => a - b);
    const at = new Map(idx.map((i, p) => [i, p]));
    this.values = idx.map(bucketValue);
    this.rows = devices.map((d) => ({
      pos: Int32Array.from(d.histogram.map(([i]) => at.get(i) ?? 0)),
      counts: Float64Array.from(d.histogram.map(([, c]) => c)),
      n: d.histogram.reduce((s, [, c]) => s + c, 0),
    }));
    this.acc = new Float64Array(idx.length);
  }

  /** The q-quantile of `draws` devices drawn with replacement (or the listed ones), with the inferences' own sampling noise. */
  replicate(q: number, draws: number, rand: Random, fixed: number | null): number {
    this.acc.fill(0);
    let n = 0;
    for (let k = 0; k < draws; k++) {
      const row = this.rows[fixed ?? Math.floor(rand() * this.rows.length)];
      if (!row) continue;
      for (let j = 0; j < row.pos.length; j++)
        this.acc[row.pos[j] as number] = (this.acc[row.pos[j] as number] ?? 0) + (row.counts[j] ?? 0);
      n += row.n;
    }
    if (n === 0) return Number.NaN;
    // resampling n inferences moves the sample q-quantile to the level q + Z·sqrt(q(1−q)/n) of the
    // distribution (the order statistic's normal limit): the second stage of a two-stage bootstrap
    const level = Math.min(1, Math.max(0, q + gaussian(rand) * Math.sqrt((q * (1 - q)) / n)));
    const rank = Math.max(1, Math.ceil(level * n - 1e-9));
    let seen = 0;
    for (let i = 0; i < this.acc.length; i++) {
      seen += this.acc[i] ?? 0;
      if (seen >= rank) return this.values[i] ?? Number.NaN;
    }
    return this.values[this.values.length - 1] ?? Number.NaN;
  }
}

export function summariseCohort(devices: readonly DeviceDistribution[], q: number): CohortSummary {
  const h = LatencyHistogram.merged(devices.map((d) => d.histogram));
  return {
    devices: devices.length,
    windows: devices.reduce((s, d) => s + d.windows, 0),
    inferences: h.count,
    quantileMs: h.count ? h.quantile(q) : null,
  };
}

/**
 * Compares the canary's q-quantile with the baseline's: the point estimate from the merged
 * distributions, the interval and p-value from a seeded bootstrap (the same inputs give the same
 * figures). Devices are taken in deviceId order, so the result does not depend on query order.
 */
export function compareQuantile(
  canary: readonly DeviceDistribution[],
  baseline: readonly DeviceDistribution[],
  o: CompareOptions,
): Comparison {
  const byId = (a: DeviceDistribution, b: DeviceDistribution): number => a.deviceId.localeCompare(b.deviceId);
  const c = [...canary].sort(byId);
  const b = [...baseline].sort(byId);
  const cs = summariseCohort(c, o.q);
  const bs = summariseCohort(b, o.q);
  const cq = cs.quantileMs ?? Number.NaN;
  const bq = bs.quantileMs ?? Number.NaN;
  const rand = mulberry32(o.seed);
  const rc = new Resampler(c);
  const rb = new Resampler(b);
  const effects = new Float64Array(o.iterations);
  let noRegression = 0;
  for (let i = 0; i < o.iterations; i++) {
    const x = o.mode === 'device' ? rc.replicate(o.q, 1, rand, 0) : rc.replicate(o.q, c.length, rand, null);
    const y = o.mode === 'device' ? rb.replicate(o.q, 1, rand, null) : rb.replicate(o.q, b.length, rand, null);
    const e = x / y - 1;
    effects[i] = e;
    if (!(e > 0)) noRegression++;
  }
  effects.sort();
  const tail = (1 - o.confidence) / 2;
  const pick = (p: number): number => effects[Math.min(o.iterations - 1, Math.max(0, Math.floor(p * o.iterations)))] ?? Number.NaN;
  const interval: [number, number] = [pick(tail), pick(1 - tail)];
  return {
    canary: cs,
    baseline: bs,
    effect: cq / bq - 1,
    effectMs: cq - bq,
    interval,
    pValue: (noRegression + 1) / (o.iterations + 1),
    confidence: o.confidence,
    significant: interval[0] > 0,
  };
}

/** A stable 32-bit seed from a text (FNV-1a), so a gate's bootstrap replays for the same cohort. */
export function seedOf(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}
