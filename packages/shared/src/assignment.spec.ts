import { describe, expect, it } from 'vitest';
import { chooseVariant, placementFor, powerAtRate, type VariantCandidate } from './assignment.js';
import { hardwarePreset } from './hardware.js';
import { defaultPolicy } from './policy.js';
import type { HardwareProfile } from './schemas.js';

const ctx = { referenceTops: 1, requiredRateHz: 10 };
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
    expect(d).toMatchObject({ kind: 'assign', variantId: 'a8', precision: 'int8', placement: 'SRAM', latencySource: 'prediction' });
    if (d.kind === 'assign') {
      expect(d.predictedLatencyMs).toBeCloseTo(0.3); // 3 ms × 1 TOPS / 10 TOPS
      expect(d.reason).toMatch(/p99 0\.30 ms ≤ 20 ms/);
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
    const busy = { referenceTops: 1, requiredRateHz: 60 }; // 19 ms × 60 Hz: busy all the time
    expect(powerAtRate(arm, 19, 60)).toBeCloseTo(0.5 + 2.7 * 1);
    const within = chooseVariant(arm, robotic, [v('p8', 'int8', { fleet })], busy);
    expect(within).toMatchObject({ kind: 'assign', variantId: 'p8' });
    if (within.kind === 'assign') expect(within.predictedPowerW).toBeCloseTo(3.2);
    const over = chooseVariant(arm, { ...robotic, powerBudgetW: 2 }, [v('p8', 'int8', { fleet })], busy);
    expect(over.kind).toBe('refuse');
    if (over.kind === 'refuse') expect(over.reason).toMatch(/estimated 3\.20 W at 60 Hz is over the 2 W budget/);
  });

  it('refuses a variant predicted too slow for the tier target', () => {
    const slow = v('s8', 'int8', { reference: ref(100, 200, 300) }); // 300 / 10 = 30 ms > 20 ms
    const d = chooseVariant(arm, robotic, [slow], ctx);
    expect(d.kind).toBe('refuse');
    if (d.kind === 'refuse') expect(d.rejected[0]?.why).toMatch(/p99 30\.00 ms is over the 20 ms target \(predicted/);
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
