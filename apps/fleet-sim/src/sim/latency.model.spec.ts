import { hardwarePreset, LatencyHistogram, SparseHistogramSchema } from '@edge-fleet/shared';
import { describe, expect, it } from 'vitest';
import { createPrng } from '../core/prng.js';
import { DEFAULT_COST, deviceSpeedFactor, latencyDistribution, windowHistogram, windowLatency } from './latency.model.js';

const small = { sizeBytes: 40_000, precision: 'fp32' as const, measured: null };
const big = { sizeBytes: 400_000_000, precision: 'fp32' as const, measured: null };

describe('latency model', () => {
  it('uses the documented default cost: dispatch overhead for a tiny model, compute for a big one', () => {
    const d = latencyDistribution(hardwarePreset('edge-npu-trading'), small);
    expect(d.medianMs).toBeGreaterThanOrEqual(DEFAULT_COST.dispatchOverheadMs);
    expect(d.medianMs).toBeLessThan(0.1);
    // 400 MB of weights do not fit in 32 MB of SRAM: read from DRAM at 40 GB/s → 10 ms (compute: 0.25 ms)
    expect(latencyDistribution(hardwarePreset('edge-npu-trading'), big).medianMs).toBeCloseTo(10.05, 3);
  });

  it('is faster on more TOPS and at lower precision, and slower by the slow-fault factor', () => {
    const npu = latencyDistribution(hardwarePreset('robot-npu-arm'), big).medianMs;
    expect(latencyDistribution(hardwarePreset('cloud-gpu-node'), big).medianMs).toBeLessThan(npu);
    // the INT8 variant of the same model is a quarter of the size
    expect(
      latencyDistribution(hardwarePreset('robot-npu-arm'), { ...big, sizeBytes: big.sizeBytes / 4, precision: 'int8' }).medianMs,
    ).toBeLessThan(npu);
    expect(latencyDistribution(hardwarePreset('robot-npu-arm'), big, 3).medianMs).toBeCloseTo(npu * 3, 6);
  });

  it('follows measured figures when a variant has them, scaled by TOPS against the 40-TOPS reference', () => {
    const measured = { p50Ms: 2, p99Ms: 6 };
    const d = latencyDistribution(hardwarePreset('edge-npu-trading'), { ...small, measured });
    expect(d.medianMs).toBeCloseTo(2, 6);
    const w = windowLatency(d, 20_000, createPrng(5), 20_000);
    expect(w?.p50).toBeGreaterThan(1.9);
    expect(w?.p50).toBeLessThan(2.1);
    expect(w?.p99).toBeGreaterThan(5.4);
    expect(w?.p99).toBeLessThan(6.6);
    expect(latencyDistribution(hardwarePreset('edge-dsa-vehicle'), { ...small, measured }).medianMs).toBeCloseTo(0.8, 6);
  });

  it('summarises a window in order (p50 ≤ p95 ≤ p99 ≤ max), and has no latency without inferences', () => {
    const d = latencyDistribution(hardwarePreset('edge-gpu-kiosk'), small);
    const w = windowLatency(d, 50, createPrng(1));
    expect(w).not.toBeNull();
    if (!w) return;
    expect(w.p50).toBeLessThanOrEqual(w.p95);
    expect(w.p95).toBeLessThanOrEqual(w.p99);
    expect(w.p99).toBeLessThanOrEqual(w.max);
    expect(windowLatency(d, 0, createPrng(1))).toBeNull();
    expect(windowLatency(d, 50, createPrng(1))).toEqual(w);
  });

  it('issue 17: a window histogram counts its runs and spreads as the distribution says (p99 = median · e^(2.326 sigma))', () => {
    const d = { medianMs: 2, sigma: Math.log(1.8) / 2.326 };
    const h = LatencyHistogram.fromSparse(SparseHistogramSchema.parse(windowHistogram(d, 20_000, createPrng(4), 20_000, 0)));
    expect(h.count).toBe(20_000);
    expect(h.quantile(0.5)).toBeCloseTo(2, 1);
    expect(h.quantile(0.99) / 3.6).toBeGreaterThan(0.95);
    expect(h.quantile(0.99) / 3.6).toBeLessThan(1.05);
    expect(windowHistogram(d, 5_000, createPrng(4), 1_000)?.reduce((s, [, c]) => s + c, 0)).toBe(1_000);
    expect(windowHistogram(d, 0, createPrng(4))).toBeNull();
  });
  it('issue 17: devices of one class differ by a seeded factor of about ±10 %', () => {
    const rand = createPrng(9);
    const logs = Array.from({ length: 2_000 }, () => Math.log(deviceSpeedFactor(rand)));
    const mean = logs.reduce((a, b) => a + b, 0) / logs.length;
    const sd = Math.sqrt(logs.reduce((a, b) => a + (b - mean) ** 2, 0) / logs.length);
    expect(sd).toBeCloseTo(0.1, 2);
    expect(deviceSpeedFactor(createPrng(3))).toBe(deviceSpeedFactor(createPrng(3)));
  });
});
