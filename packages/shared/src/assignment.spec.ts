import { describe, expect, it } from 'vitest';
import { chooseVariant, placementFor, powerAtRate, predictLatency, type VariantCandidate } from './assignment.js';
import { hardwarePreset } from './hardware.js';
import { defaultPolicy } from './policy.js';
import type { HardwareProfile } from './schemas.js';

const ctx = { requiredRateHz: 10 };
const ref = (p50: number, p95: number, p99: number) => ({ p50, p95, p99, machine: 'ref-cpu' });
function v(id: string, precision: VariantCandidate['precision'], over: Partial<VariantCandidate> = {}): VariantCandidate {
  return { variantId: id, precision, sizeBytes: 1024 * 1024, usable: true, reference: ref(1, 2, 3), ...over };
}
const arm = hardwarePreset('robot-npu-arm'); // 10 TOPS, 2 MB SRAM, 1 GB DRAM, 5 W, fp32/fp16/int8/int4
const trading = hardwarePreset('edge-npu-trading'); // no int4
const robotic = defaultPolicy('robotic_manipulation'); // p99 < 20 ms, int8 → fp16 → fp32, 5 W

describe('chooseVariant', () => {
  it('takes the first precision of the policy order that passes every check, and says why', () => {
    const d = chooseVariant(arm, robotic, [v('a32', 'fp32'), v('a16', 'fp16'), v('a8', 'int8')], ctx);
    expect(d).toMatchObject({ kind: 'assign', variantId: 'a8', precision: 'int8', placement: 'SRAM', latencySource: 'unmeasured' });
    if (d.kind === 'assign') {
      expect(d.predictedLatencyMs).toBe(3);
      expect(d.reason).toMatch(/p99 3\.00 ms ≤ 20 ms \(unmeasured device/);
    }
  });

  it('skips a precision the accelerator does not support', () => {
    const noInt8: HardwareProfile = { ...arm, precisions: ['fp32', 'fp16'] };
    const d = chooseVariant(noInt8, robotic, [v('a8', 'int8'), v('a16', 'fp16')], ctx);
    expect(d).toMatchObject({ kind: 'assign', variantId: 'a16' });
    if (d.kind === 'assign') expect(d.reason).toMatch(/skipped int8 \(int8 is not supported by the npu/);
  });

  it('skips a variant that does not fit memory, and places one by the tier it fits', () => {
    const big = v('big8', 'int8', { sizeBytes: 600 * 1024 * 1024 });
    const mid = v('mid16', 'fp16', { sizeBytes: 100 * 1024 * 1024 });
    const d = chooseVariant(arm, robotic, [big, mid], ctx);
    expect(d).toMatchObject({ kind: 'assign', variantId: 'mid16', placement: 'DRAM' });
    if (d.kind === 'assign') expect(d.reason).toMatch(/600\.0 MB does not fit 512 MB/);
    expect(placementFor(2 * 1024 * 1024, arm)).toBe('SRAM');
    expect(placementFor(2 * 1024 * 1024 + 1, arm)).toBe('DRAM');
  });

  it('refuses a variant whose estimated power at the required rate is over the budget', () => {
    const fleet = { 'edge-npu-10t': { p50: 15, p95: 18, p99: 19, windows: 5 } };
    const busy = { requiredRateHz: 60 }; // 19 ms × 60 Hz: busy all the time
    expect(powerAtRate(arm, 19, 60)).toBeCloseTo(0.5 + 2.7 * 1);
    const within = chooseVariant(arm, robotic, [v('p8', 'int8', { fleet })], busy);
    expect(within).toMatchObject({ kind: 'assign', variantId: 'p8' });
    if (within.kind === 'assign') expect(within.predictedPowerW).toBeCloseTo(3.2);
    const over = chooseVariant(arm, { ...robotic, powerBudgetW: 2 }, [v('p8', 'int8', { fleet })], busy);
    expect(over.kind).toBe('refuse');
    if (over.kind === 'refuse') expect(over.reason).toMatch(/estimated 3\.20 W at 60 Hz is over the 2 W budget/);
  });

  it('refuses a variant predicted too slow for the tier target', () => {
    const slow = v('s8', 'int8', { reference: ref(10, 20, 30) }); // 30 ms > 20 ms, whatever TOPS the profile claims
    const d = chooseVariant(arm, robotic, [slow], ctx);
    expect(d.kind).toBe('refuse');
    if (d.kind === 'refuse') expect(d.rejected[0]?.why).toMatch(/p99 30\.00 ms is over the 20 ms target \(unmeasured device/);
  });

  it('prefers what the fleet measured on the same hardware class over the prediction', () => {
    const measured = v('m8', 'int8', { reference: ref(100, 200, 300), fleet: { 'edge-npu-10t': { p50: 4, p95: 6, p99: 8, windows: 12 } } });
    const d = chooseVariant(arm, robotic, [measured], ctx);
    expect(d).toMatchObject({ kind: 'assign', latencySource: 'fleet', predictedLatencyMs: 8 });
  });

  it("skips a variant whose agreement with FP32 is below the scenario's accuracy floor", () => {
    const lossy = v('l8', 'int8', { agreement: { cosine: 0.995, top1: 0.97 } });
    const close = v('c16', 'fp16', { agreement: { cosine: 0.99999, top1: 1 } });
    const d = chooseVariant(arm, robotic, [lossy, close], ctx); // floor 0.99
    expect(d).toMatchObject({ kind: 'assign', variantId: 'c16' });
    if (d.kind === 'assign')
      expect(d.reason).toMatch(
        /skipped int8 \(agreement with FP32 \(cosine 0\.9950, top-1 97\.0 %\) is below the scenario's floor 0\.99\)/,
      );
    expect(chooseVariant(arm, { ...robotic, accuracyFloor: 0.96 }, [lossy], ctx)).toMatchObject({ kind: 'assign', variantId: 'l8' });
  });

  it('refuses a variant with no measurement yet, and an unusable one', () => {
    const d = chooseVariant(
      trading,
      defaultPolicy('financial_trading'),
      [v('n16', 'fp16', { reference: null }), v('u32', 'fp32', { usable: false, unusableReason: 'cosine 0.91 < 0.99' })],
      ctx,
    );
    expect(d.kind).toBe('refuse');
    if (d.kind === 'refuse') {
      expect(d.rejected.map((r) => r.why)).toEqual(['no latency measurement yet', 'unusable: cosine 0.91 < 0.99']);
      expect(d.reason).toMatch(/no variant in the policy's order \(fp16 → fp32\) fits/);
    }
  });

  it('never picks a precision outside the policy order, and refuses when there are no variants', () => {
    const d = chooseVariant(trading, defaultPolicy('financial_trading'), [v('x8', 'int8')], ctx);
    expect(d.kind).toBe('refuse');
    expect(chooseVariant(arm, robotic, [], ctx)).toMatchObject({ kind: 'refuse', reason: 'the model version has no variants' });
  });
});

describe('predictLatency (issue 16: latency measured where it runs)', () => {
  const vehicle = hardwarePreset('edge-dsa-vehicle'); // "100 TOPS" on its spec sheet, runs onnxruntime's CPU provider
  const builderBench = { model: 'convnet-seed1', p50Ms: 1.5 };
  const detector = v('det', 'fp32', {
    reference: { p50: 50, p95: 56.9, p99: 60, machine: 'builder-cpu, 1 thread(s)', benchmark: builderBench },
    fleet: { 'edge-dsa-100t': { p50: 70, p95: 80, p99: 90, windows: 4 } },
  });
  const own = { det: { p50: 40, p95: 45, p99: 47, runs: 10, executionProvider: 'cpu' } };
  const bench = { model: 'convnet-seed1', p50Ms: 3 }; // twice as slow as the builder

  it("uses this device's own measurement of the variant first (10 smoke runs show its median only)", () => {
    const p = predictLatency(detector, vehicle, 'p95', { variants: own, benchmark: bench });
    expect(p).toEqual({
      ms: 40,
      source: 'device',
      basis: 'p50 measured on this device over 10 smoke runs (cpu); 10 run(s) show no p95: their p50, a lower bound',
    });
    const many = { det: { ...own.det, runs: 200 } };
    expect(predictLatency(detector, vehicle, 'p95', { variants: many })).toMatchObject({ ms: 45, source: 'device' });
  });

  it("then the fleet's measurement on the same hardware class", () => {
    const p = predictLatency(detector, vehicle, 'p95', { variants: { other: own.det }, benchmark: bench });
    expect(p).toMatchObject({ ms: 80, source: 'fleet' });
    expect(p?.basis).toMatch(/median p95 measured on edge-dsa-100t over 4 windows/);
  });

  it("then the reference figure scaled by the device's measured benchmark speed", () => {
    const p = predictLatency({ ...detector, fleet: {} }, vehicle, 'p95', { benchmark: bench });
    expect(p?.source).toBe('speed-factor');
    expect(p?.ms).toBeCloseTo(113.8); // 56.9 ms × 3 / 1.5
    expect(p?.basis).toMatch(
      /reference p95 56\.90 ms on builder-cpu, 1 thread\(s\) × 2\.00 \(convnet-seed1 benchmark: 3\.00 ms on this device, 1\.50 ms on the builder\)/,
    );
  });

  it('never scales by the TOPS ratio: an unmeasured 100 TOPS device gets the reference figure, labelled as such', () => {
    const p = predictLatency({ ...detector, fleet: {} }, vehicle, 'p95');
    expect(p).toEqual({
      ms: 56.9,
      source: 'unmeasured',
      basis: 'unmeasured device: reference p95 56.90 ms on builder-cpu, 1 thread(s), not scaled (it has not reported a benchmark)',
    });
  });

  it('reads no tail percentile from too few reference runs: 20 runs stand for their p50, a lower bound (issue 17)', () => {
    // the upload's 20 timed runs on a loaded control plane: one hiccup is their "p99"
    const uploaded = v('up', 'fp32', { reference: { p50: 0.2, p95: 51, p99: 51, machine: 'cp-cpu, 1 thread(s)', runs: 20 } });
    const p = predictLatency(uploaded, vehicle, 'p99');
    expect(p).toMatchObject({ ms: 0.2, source: 'unmeasured' });
    expect(p?.basis).toMatch(/reference p50 0\.20 ms .*; 20 run\(s\) show no p99: their p50, a lower bound$/);
    const trading = defaultPolicy('financial_trading');
    expect(chooseVariant(hardwarePreset('edge-npu-trading'), { ...trading, precisionOrder: ['fp32'] }, [uploaded], ctx).kind).toBe(
      'assign',
    );
    // 200 runs show a p95, not a p99; 1,000 show the p99 itself
    const builder = { ...uploaded, reference: { p50: 1, p95: 2, p99: 3, machine: 'builder', runs: 200 } };
    expect(predictLatency(builder, vehicle, 'p99')?.ms).toBe(2);
    expect(predictLatency({ ...builder, reference: { ...builder.reference, runs: 1_000 } }, vehicle, 'p99')?.ms).toBe(3);
    // a median over the target still refuses before download
    const slow = v('slow', 'fp32', { reference: { p50: 12, p95: 51, p99: 51, machine: 'cp-cpu', runs: 20 } });
    expect(chooseVariant(hardwarePreset('edge-npu-trading'), { ...trading, precisionOrder: ['fp32'] }, [slow], ctx).kind).toBe('refuse');
  });

  it('does not compare benchmarks of different models', () => {
    const p = predictLatency({ ...detector, fleet: {} }, vehicle, 'p95', { benchmark: { model: 'mlp-seed1', p50Ms: 0.1 } });
    expect(p).toMatchObject({ ms: 56.9, source: 'unmeasured' });
    expect(p?.basis).toMatch(/its benchmark cannot be compared with this build/);
  });

  it("a device's own measurement over the target makes chooseVariant skip the variant, with the basis in the reason", () => {
    const driving = { ...robotic, latencyPercentile: 'p95' as const, latencyTargetMs: 5, precisionOrder: ['fp32' as const] };
    const d = chooseVariant(vehicle, driving, [detector], ctx, { variants: own });
    expect(d.kind).toBe('refuse');
    if (d.kind === 'refuse')
      expect(d.reason).toMatch(/p95 40\.00 ms is over the 5 ms target \(p50 measured on this device over 10 smoke runs/);
  });
});
