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

  /** The q-quantile of `draws` devices drawn with replacement, with the inferences' own sampling noise. */
  replicate(q: number, draws: number, rand: Random): number {
    this.acc.fill(0);
    let n = 0;
    for (let k = 0; k < draws; k++) {
      const row = this.rows[Math.floor(rand() * this.rows.length)];
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
    // each replicate redraws as many devices as each cohort has (a cluster bootstrap: the spread
    // between devices counts, not only the spread between inferences)
    const x = rc.replicate(o.q, c.length, rand);
    const y = rb.replicate(o.q, b.length, rand);
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

/**
 * P(T > t) for Student's t with an integer number of degrees of freedom, by the finite series of
 * Abramowitz & Stegun 26.7.3 (odd df) and 26.7.4 (even df) for A(t|df) = P(|T| < t).
 */
export function studentTUpper(t: number, df: number): number {
  const n = Math.max(1, Math.round(df));
  const theta = Math.atan(Math.abs(t) / Math.sqrt(n));
  const c2 = Math.cos(theta) ** 2;
  const sin = Math.sin(theta);
  let a: number;
  if (n % 2 === 1) {
    let sum = 0;
    let term = Math.cos(theta);
    for (let k = 3; k <= n; k += 2) {
      sum += term;
      term *= ((k - 1) / k) * c2;
    }
    a = (2 / Math.PI) * (theta + sin * sum);
  } else {
    let sum = 0;
    let term = 1;
    for (let k = 2; k <= n; k += 2) {
      sum += term;
      term *= ((k - 1) / k) * c2;
    }
    a = sin * sum;
  }
  const upper = Math.max(0, (1 - a) / 2);
  return t >= 0 ? upper : 1 - upper;
}

/** The t with P(T > t) = p (bisection on studentTUpper). */
export function studentTQuantileUpper(p: number, df: number): number {
  let lo = -1e3;
  let hi = 1e3;
  for (let i = 0; i < 200; i++) {
    const mid = (lo + hi) / 2;
    if (studentTUpper(mid, df) > p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

export interface DeviceOutlierTest {
  /** The device's percentile over the typical baseline device's (geometric mean) − 1. */
  effect: number;
  effectMs: number;
  /** Prediction interval of `effect` at the per-device confidence. */
  interval: [number, number];
  /** One-sided p-value of "no slower than a baseline device". */
  pValue: number;
  /** p below (1 − confidence) / 2 / devices: family-wise over the wave's devices (Bonferroni). */
  significant: boolean;
}

/**
 * A device's percentile against the spread of the baseline devices' own percentiles: units of one
 * hardware class differ, so a device is significantly slow only when it lies outside what baseline
 * devices vary (a prediction interval on log-percentiles, Student's t with k − 1 degrees of
 * freedom), at the gate's confidence shared over the `devices` judged (Bonferroni), so ten healthy
 * canaries are not ten chances of a false alarm.
 */
export function deviceVsBaseline(
  deviceQuantileMs: number,
  baselineQuantilesMs: readonly number[],
  confidence: number,
  devices: number,
): DeviceOutlierTest | null {
  const logs = baselineQuantilesMs.filter((x) => x > 0).map(Math.log);
  const k = logs.length;
  if (k < 3 || !(deviceQuantileMs > 0)) return null;
  const mean = logs.reduce((s, x) => s + x, 0) / k;
  const sd = Math.max(1e-6, Math.sqrt(logs.reduce((s, x) => s + (x - mean) ** 2, 0) / (k - 1)));
  const scale = sd * Math.sqrt(1 + 1 / k);
  const t = (Math.log(deviceQuantileMs) - mean) / scale;
  const alpha = (1 - confidence) / 2 / Math.max(1, devices);
  const crit = studentTQuantileUpper(alpha, k - 1);
  const pValue = studentTUpper(t, k - 1);
  const typical = Math.exp(mean);
  return {
    effect: deviceQuantileMs / typical - 1,
    effectMs: deviceQuantileMs - typical,
    interval: [
      Math.exp(Math.log(deviceQuantileMs) - mean - crit * scale) - 1,
      Math.exp(Math.log(deviceQuantileMs) - mean + crit * scale) - 1,
    ],
    pValue,
    significant: pValue < alpha,
  };
}

/**
 * P(K ≥ k) for K ~ Binomial(n, p): how likely `k` or more of `n` runs beyond a percentile would be
 * if the percentile held. Summed in log space from k up (terms shrink fast past the mean).
 */
export function binomialUpperTail(n: number, k: number, p: number): number {
  if (k <= 0) return 1;
  if (k > n) return 0;
  if (p <= 0) return 0;
  if (p >= 1) return 1;
  let logC = 0;
  for (let i = 1; i <= k; i++) logC += Math.log((n - k + i) / i);
  let logTerm = logC + k * Math.log(p) + (n - k) * Math.log(1 - p);
  let sum = 0;
  for (let j = k; j <= n; j++) {
    const t = Math.exp(logTerm);
    sum += t;
    if (t < sum * 1e-15 && j > n * p) break;
    logTerm += Math.log((n - j) / (j + 1)) + Math.log(p / (1 - p));
  }
  return Math.min(1, sum);
}

/**
 * Clopper–Pearson upper bound of a binomial share: the largest p at which `k` or fewer successes
 * in `n` trials would still happen with probability `alpha` (one-sided). Found by bisection on
 * the exact tail, so it holds for small `n` and for `k` = 0 where normal approximations fail.
 */
export function binomialShareUpper(n: number, k: number, alpha: number): number {
  if (n <= 0) return 1;
  if (k >= n) return 1;
  let lo = k / n;
  let hi = 1;
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2;
    // P(K ≤ k | n, mid) = 1 − P(K ≥ k + 1)
    if (1 - binomialUpperTail(n, k + 1, mid) > alpha) lo = mid;
    else hi = mid;
  }
  return hi;
}
