import type { LatencyPercentile, ScenarioPolicy } from './policy.js';
import type { HardwareProfile, Precision } from './schemas.js';

/** Latency figures at the three percentiles, in milliseconds. */
export interface LatencyFigures {
  p50: number;
  p95: number;
  p99: number;
}

/** One built variant of a model version, with what was measured of it. */
export interface VariantCandidate {
  variantId: string;
  precision: Precision;
  sizeBytes: number;
  /** Unusable variants (failed agreement, failed build) are never chosen. */
  usable: boolean;
  unusableReason?: string;
  /** Measured on the reference machine by the variant builder; null before measurement. */
  reference: (LatencyFigures & { machine: string }) | null;
  /** Output agreement with FP32 measured by the builder; null for FP32 itself (the reference). */
  agreement?: { cosine: number; top1: number | null } | null;
  /** Measured by the fleet, keyed by hardware class (telemetry rollups); absent where none reported. */
  fleet?: Readonly<Record<string, LatencyFigures & { windows: number }>>;
}

export interface AssignmentContext {
  /** Compute of the reference machine in TOPS, for scaling reference latencies to a device. */
  referenceTops: number;
  /** Inference rate the device must sustain (inferences per second). */
  requiredRateHz: number;
  /** Share of DRAM a model may take (the rest is for the OS and the application). */
  dramShare?: number;
}

export type Placement = 'SRAM' | 'DRAM' | 'storage';

export type AssignmentDecision =
  | {
      kind: 'assign';
      variantId: string;
      precision: Precision;
      placement: Placement;
      predictedLatencyMs: number;
      latencySource: 'fleet' | 'prediction';
      predictedPowerW: number;
      reason: string;
    }
  | { kind: 'refuse'; reason: string; rejected: { variantId: string; precision: Precision; why: string }[] };

/** Milliseconds with enough digits to mean something at any scale. */
function ms(x: number): string {
  return x >= 1 ? x.toFixed(2) : x.toPrecision(2);
}

/** Where a model of this size lives on this device; null when it does not fit at all. */
export function placementFor(sizeBytes: number, hw: HardwareProfile, dramShare = 0.5): Placement | null {
  const mb = sizeBytes / (1024 * 1024);
  if (mb <= hw.sramMb) return 'SRAM';
  if (mb <= hw.dramMb * dramShare) return 'DRAM';
  return null;
}

/** Average power at a duty cycle: idle plus the active share while inferring. */
export function powerAtRate(hw: HardwareProfile, latencyMs: number, rateHz: number): number {
  const busy = Math.min(1, (latencyMs / 1000) * rateHz);
  return hw.idlePowerW + (hw.activePowerW - hw.idlePowerW) * busy;
}

function latencyFor(
  v: VariantCandidate,
  hw: HardwareProfile,
  pct: LatencyPercentile,
  ctx: AssignmentContext,
): { ms: number; source: 'fleet' | 'prediction'; basis: string } | null {
  const fleet = v.fleet?.[hw.hardwareClass];
  if (fleet && fleet.windows > 0) {
    return { ms: fleet[pct], source: 'fleet', basis: `median ${pct} measured on ${hw.hardwareClass} over ${fleet.windows} windows` };
  }
  if (!v.reference) return null;
  const scale = ctx.referenceTops / Math.max(hw.tops, 1e-6);
  return {
    ms: v.reference[pct] * scale,
    source: 'prediction',
    basis: `predicted: reference ${pct} ${ms(v.reference[pct])} ms on ${v.reference.machine} × ${ctx.referenceTops} TOPS / ${hw.tops} TOPS`,
  };
}

type Check =
  { ok: true; placement: Placement; latency: NonNullable<ReturnType<typeof latencyFor>>; powerW: number } | { ok: false; why: string };

function check(v: VariantCandidate, hw: HardwareProfile, policy: ScenarioPolicy, ctx: AssignmentContext): Check {
  if (!v.usable) return { ok: false, why: `unusable: ${v.unusableReason ?? 'no reason recorded'}` };
  if (v.agreement) {
    const worst = Math.min(v.agreement.cosine, v.agreement.top1 ?? 1);
    if (worst < policy.accuracyFloor) {
      const top1 = v.agreement.top1 === null ? '' : `, top-1 ${(v.agreement.top1 * 100).toFixed(1)} %`;
      return {
        ok: false,
        why: `agreement with FP32 (cosine ${v.agreement.cosine.toFixed(4)}${top1}) is below the scenario's floor ${policy.accuracyFloor}`,
      };
    }
  }
  if (!hw.precisions.includes(v.precision))
    return { ok: false, why: `${v.precision} is not supported by the ${hw.accelerator} (${hw.precisions.join(', ')})` };
  const placement = placementFor(v.sizeBytes, hw, ctx.dramShare);
  if (!placement)
    return {
      ok: false,
      why: `${(v.sizeBytes / 1048576).toFixed(1)} MB does not fit ${Math.round(hw.dramMb * (ctx.dramShare ?? 0.5))} MB of usable DRAM`,
    };
  const latency = latencyFor(v, hw, policy.latencyPercentile, ctx);
  if (!latency) return { ok: false, why: 'no latency measurement yet' };
  if (latency.ms > policy.latencyTargetMs) {
    return {
      ok: false,
      why: `${policy.latencyPercentile} ${ms(latency.ms)} ms is over the ${policy.latencyTargetMs} ms target (${latency.basis})`,
    };
  }
  const budget = policy.powerBudgetW ?? hw.powerBudgetW;
  const powerW = powerAtRate(hw, latency.ms, ctx.requiredRateHz);
  if (powerW > budget) {
    return { ok: false, why: `estimated ${powerW.toFixed(2)} W at ${ctx.requiredRateHz} Hz is over the ${budget} W budget` };
  }
  return { ok: true, placement, latency, powerW };
}

/**
 * Decides which variant a device runs: the first precision of the policy's order whose variant
 * the hardware supports, fits in memory, stays within the power budget at the required rate,
 * and meets the tier's latency target (measured on this hardware class where the fleet has
 * reported it, else predicted from the reference measurement). Every outcome says why.
 */
export function chooseVariant(
  hw: HardwareProfile,
  policy: ScenarioPolicy,
  candidates: readonly VariantCandidate[],
  ctx: AssignmentContext,
): AssignmentDecision {
  const rejected: { variantId: string; precision: Precision; why: string }[] = [];
  for (const precision of policy.precisionOrder) {
    for (const v of candidates.filter((c) => c.precision === precision)) {
      const c = check(v, hw, policy, ctx);
      if (!c.ok) {
        rejected.push({ variantId: v.variantId, precision, why: c.why });
        continue;
      }
      const skipped = rejected.length ? `; skipped ${rejected.map((r) => `${r.precision} (${r.why})`).join(', ')}` : '';
      return {
        kind: 'assign',
        variantId: v.variantId,
        precision,
        placement: c.placement,
        predictedLatencyMs: c.latency.ms,
        latencySource: c.latency.source,
        predictedPowerW: c.powerW,
        reason: `${precision} in ${c.placement}: ${policy.latencyPercentile} ${ms(c.latency.ms)} ms ≤ ${policy.latencyTargetMs} ms (${c.latency.basis}), ~${c.powerW.toFixed(2)} W (estimate) at ${ctx.requiredRateHz} Hz${skipped}`,
      };
    }
  }
  const none =
    candidates.length === 0
      ? 'the model version has no variants'
      : `no variant in the policy's order (${policy.precisionOrder.join(' → ')}) fits`;
  return {
    kind: 'refuse',
    reason: `${none}${rejected.length ? `: ${rejected.map((r) => `${r.precision}: ${r.why}`).join('; ')}` : ''}`,
    rejected,
  };
}
