import { LatencyHistogram, type SparseHistogram } from '@edge-fleet/shared/histogram';
import { percentile } from '@edge-fleet/shared/stats';
import { createPrng } from '../engine/input.generator.js';

export interface LatencySummary {
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

export interface WindowStats {
  inferences: number;
  errors: number;
  /** Sum of measured inference time: the basis of utilisation. */
  busyMs: number;
  latencyMs: LatencySummary | null;
  /** Every timed inference of the window (not only the reservoir's): what the gates merge. */
  histogram: SparseHistogram | null;
}

export function summarise(samples: readonly number[], max: number): LatencySummary | null {
  if (samples.length === 0) return null;
  const sorted = [...samples].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p95: percentile(sorted, 95), p99: percentile(sorted, 99), max };
}

/**
 * Collects per-inference latencies for one telemetry window. Exact up to `capacity` samples;
 * beyond that a uniform reservoir keeps memory bounded at high rates (max stays exact).
 */
export class LatencyWindow {
  private samples: number[] = [];
  private seen = 0;
  private inferences = 0;
  private errors = 0;
  private busyMs = 0;
  private max = 0;
  private histogram = new LatencyHistogram();
  private readonly rand: () => number;

  constructor(
    private readonly capacity = 100_000,
    seed = 1,
  ) {
    this.rand = createPrng(seed);
  }

  /** One attempted inference; `latencyMs` is null when the run threw before producing a time. */
  record(latencyMs: number | null, ok: boolean): void {
    this.inferences++;
    if (!ok) this.errors++;
    if (latencyMs === null) return;
    this.busyMs += latencyMs;
    this.histogram.record(latencyMs);
    this.max = Math.max(this.max, latencyMs);
    this.seen++;
    if (this.samples.length < this.capacity) {
      this.samples.push(latencyMs);
      return;
    }
    const j = Math.floor(this.rand() * this.seen);
    if (j < this.capacity) this.samples[j] = latencyMs;
  }

  /** Returns this window's figures and starts a new window. */
  drain(): WindowStats {
    const stats: WindowStats = {
      inferences: this.inferences,
      errors: this.errors,
      busyMs: this.busyMs,
      latencyMs: summarise(this.samples, this.max),
      histogram: this.histogram.count > 0 ? this.histogram.toSparse() : null,
    };
    this.histogram = new LatencyHistogram();
    this.samples = [];
    this.seen = 0;
    this.inferences = 0;
    this.errors = 0;
    this.busyMs = 0;
    this.max = 0;
    return stats;
  }
}
