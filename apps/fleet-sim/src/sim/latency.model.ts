import { LatencyHistogram, type HardwareProfile, type Precision, type SparseHistogram } from '@edge-fleet/shared';
import { normal } from '../core/prng.js';

/** Latency figures measured for a variant on real hardware (ModelVariant.measured), when known. */
export interface MeasuredFigures {
  p50Ms: number;
  p99Ms: number;
}

export interface SimModel {
  sizeBytes: number;
  precision: Precision;
  measured: MeasuredFigures | null;
}

/**
 * The documented default when a variant has no measured figures. A run is bound by compute or by
 * reading the weights, whichever is slower, plus a fixed dispatch overhead:
 * - compute: 2 FLOPs per parameter (parameters = sizeBytes / bytes per parameter of the precision)
 *   at 2 % of the accelerator's peak TOPS (small-batch edge workloads reach little of the peak),
 *   with lower precisions cutting compute time by `precisionFactor`;
 * - weights: from SRAM at 100 GB/s when the variant fits in `sramMb`, else from DRAM at 1 GB/s per
 *   TOPS (at least 10 GB/s).
 * Spread: log-normal with p99/p50 = 1.8.
 */
export const DEFAULT_COST = {
  flopsPerParam: 2,
  peakUtilisation: 0.02,
  dispatchOverheadMs: 0.05,
  p99OverP50: 1.8,
  sramBytesPerMs: 100e6,
  dramBytesPerMsPerTops: 1e6,
  minDramBytesPerMs: 10e6,
  bytesPerParam: { fp32: 4, fp16: 2, int8: 1, int4: 0.5 } satisfies Record<Precision, number>,
  precisionFactor: { fp32: 1, fp16: 0.6, int8: 0.35, int4: 0.25 } satisfies Record<Precision, number>,
} as const;

/** z-score of the 99th percentile of a standard normal. */
const Z99 = 2.326;

export interface LatencyDistribution {
  /** Median latency (ms). */
  medianMs: number;
  /** Log-normal shape; p99 = median × exp(Z99 × sigma). */
  sigma: number;
}

/** Where a virtual device's latency comes from: measured figures scaled by TOPS, or the default cost model. */
export function latencyDistribution(profile: HardwareProfile, model: SimModel, slowFactor = 1, referenceTops = 40): LatencyDistribution {
  if (model.measured) {
    // measured on a reference accelerator of `referenceTops`; faster hardware scales it down
    const scale = referenceTops / Math.max(profile.tops, 0.1);
    const p50 = model.measured.p50Ms * scale * slowFactor;
    const ratio = Math.max(1.01, model.measured.p99Ms / Math.max(model.measured.p50Ms, 1e-6));
    return { medianMs: p50, sigma: Math.log(ratio) / Z99 };
  }
  const c = DEFAULT_COST;
  const tops = Math.max(profile.tops, 0.1);
  const flops = (model.sizeBytes / c.bytesPerParam[model.precision]) * c.flopsPerParam;
  const computeMs = (flops / ((tops * 1e12 * c.peakUtilisation) / 1000)) * c.precisionFactor[model.precision];
  const inSram = model.sizeBytes <= profile.sramMb * 1_048_576;
  const bytesPerMs = inSram ? c.sramBytesPerMs : Math.max(c.minDramBytesPerMs, tops * c.dramBytesPerMsPerTops);
  const weightsMs = model.sizeBytes / bytesPerMs;
  return { medianMs: (Math.max(computeMs, weightsMs) + c.dispatchOverheadMs) * slowFactor, sigma: Math.log(c.p99OverP50) / Z99 };
}

export function sampleLatency(d: LatencyDistribution, rand: () => number): number {
  return d.medianMs * Math.exp(d.sigma * normal(rand));
}

export interface WindowLatency {
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

const round3 = (n: number): number => Math.round(n * 1000) / 1000;

/**
 * Summarises one window of `inferences` runs. At most `maxSamples` latencies are drawn (a window
 * summary needs percentiles, not every run), so 10,000 devices cost little CPU.
 */
export function windowLatency(d: LatencyDistribution, inferences: number, rand: () => number, maxSamples = 64): WindowLatency | null {
  if (inferences <= 0) return null;
  const n = Math.min(inferences, maxSamples);
  const s = new Float64Array(n);
  for (let i = 0; i < n; i++) s[i] = sampleLatency(d, rand);
  s.sort();
  const at = (p: number): number => s[Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1))] ?? 0;
  return { p50: round3(at(50)), p95: round3(at(95)), p99: round3(at(99)), max: round3(s[n - 1] ?? 0) };
}

/**
 * Noise between devices of one hardware class and between windows of one device, so gates meet
 * what they meet on real fleets: units of one class differ (thermal state, clocks, background load;
 * log-normal, sigma 0.1 ≈ ±10 %), and each window shifts with the scheduler (sigma 0.05).
 */
export const DEFAULT_NOISE = { deviceSigma: 0.1, windowSigma: 0.05 } as const;

/** A device's persistent speed factor (multiplies its median), drawn once from its seeded source. */
export function deviceSpeedFactor(rand: () => number, sigma: number = DEFAULT_NOISE.deviceSigma): number {
  return Math.exp(sigma * normal(rand));
}

/**
 * One window's latency histogram: `inferences` runs with this window's scheduler shift. At most
 * `maxSamples` are drawn (the histogram then counts that many timed runs, never more than ran).
 */
export function windowHistogram(
  d: LatencyDistribution,
  inferences: number,
  rand: () => number,
  maxSamples = 1_000,
  windowSigma: number = DEFAULT_NOISE.windowSigma,
): SparseHistogram | null {
  if (inferences <= 0) return null;
  const shift = Math.exp(windowSigma * normal(rand));
  const h = new LatencyHistogram();
  const n = Math.min(inferences, maxSamples);
  for (let i = 0; i < n; i++) h.record(sampleLatency(d, rand) * shift);
  return h.toSparse();
}
