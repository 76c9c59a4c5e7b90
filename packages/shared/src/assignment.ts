import { defaultEvidence } from './gate-stats.js';
import { quantileOf } from './latency-gates.js';
import type { LatencyPercentile, ScenarioPolicy } from './policy.js';
import type { HardwareProfile, Precision } from './schemas.js';

/** Latency figures at the three percentiles, in milliseconds. */
export interface LatencyFigures {
  p50: number;
  p95: number;
  p99: number;
}

/** The reference benchmark's median as timed on one machine (builder or device). */
export interface BenchmarkFigure {
  /** Which fixed benchmark model was timed; figures of different models never compare. */
  model: string;
  p50Ms: number;
}

/** One built variant of a model version, with what was measured of it. */
export interface VariantCandidate {
  variantId: string;
  precision: Precision;
  sizeBytes: number;
  /** Unusable variants (failed agreement, failed build) are never chosen. */
  usable: boolean;
  unusableReason?: string;
  /**
   * Measured on the reference machine by the variant builder; null before measurement. `benchmark`:
   * the reference benchmark timed on that machine in the same build, to scale by a device's own.
   * `runs`: the timed runs behind the figures, where known (the upload's short measurement has 20).
   */
  reference: (LatencyFigures & { machine: string; benchmark?: BenchmarkFigure; runs?: number }) | null;
  /** Output agreement with FP32 measured by the builder; null for FP32 itself (the reference). */
  agreement?: { cosine: number; top1: number | null } | null;
  /** Measured by the fleet, keyed by hardware class (telemetry rollups); absent where none reported. */
  fleet?: Readonly<Record<string, LatencyFigures & { windows: number }>>;
}

/** What one device measured itself (its reported state); every part is absent until measured. */
export interface DeviceMeasurements {
  /** Its smoke-run latency per variant id. */
  variants?: Readonly<Record<string, LatencyFigures & { runs: number; executionProvider: string }>>;
  /** Its run of the reference benchmark. */
  benchmark?: BenchmarkFigure | null;
}

export interface AssignmentContext {
  /** Inference rate the device must sustain (inferences per second). */
  requiredRateHz: number;
  /** Share of DRAM a model may take (the rest is for the OS and the application). */
  dramShare?: number;
}

/**
 * Where a latency prediction came from, best first: this device's own runs of the variant, the
 * fleet's on its hardware class, the builder's figure scaled by the device's measured benchmark
 * speed, or the builder's figure as is because nothing was measured on the device.
 */
export type LatencySource = 'device' | 'fleet' | 'speed-factor' | 'unmeasured';

export type Placement = 'SRAM' | 'DRAM' | 'storage';

export type AssignmentDecision =
  | {
      kind: 'assign';
      variantId: string;
      precision: Precision;
      placement: Placement;
      predictedLatencyMs: number;
      latencySource: LatencySource;
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

/**
 * The variant's latency at `pct` on this device, with its basis in words. Never a spec-sheet (TOPS)
 * ratio: that predicted 0.11 ms for a model the device runs in ~57 ms (issue 16), because every
 * agent runs onnxruntime's CPU provider whatever accelerator its profile names.
 */
export function predictLatency(
  v: VariantCandidate,
  hw: HardwareProfile,
  pct: LatencyPercentile,
  device: DeviceMeasurements = {},
): { ms: number; source: LatencySource; basis: string } | null {
  const own = device.variants?.[v.variantId];
  if (own) {
    const { read, note } = readablePercentile(pct, own.runs);
    return {
      ms: own[read],
      source: 'device',
      basis: `${read} measured on this device over ${own.runs} smoke runs (${own.executionProvider})${note}`,
    };
  }
  const fleet = v.fleet?.[hw.hardwareClass];
  if (fleet && fleet.windows > 0) {
    return { ms: fleet[pct], source: 'fleet', basis: `median ${pct} measured on ${hw.hardwareClass} over ${fleet.windows} windows` };
  }
  const ref = v.reference;
  if (!ref) return null;
  const { read, note } = readablePercentile(pct, ref.runs);
  const builder = ref.benchmark;
  const bench = device.benchmark;
  if (builder && bench && builder.model === bench.model && builder.p50Ms > 0) {
    const slowdown = bench.p50Ms / builder.p50Ms;
    return {
      ms: ref[read] * slowdown,
      source: 'speed-factor',
      basis: `reference ${read} ${ms(ref[read])} ms on ${ref.machine} × ${slowdown.toFixed(2)} (${bench.model} benchmark: ${ms(bench.p50Ms)} ms on this device, ${ms(builder.p50Ms)} ms on the builder)${note}`,
    };
  }
  const why = bench ? 'its benchmark cannot be compared with this build' : 'it has not reported a benchmark';
  return {
    ms: ref[read],
    source: 'unmeasured',
    basis: `unmeasured device: reference ${read} ${ms(ref[read])} ms on ${ref.machine}, not scaled (${why})${note}`,
  };
}

/**
 * The percentile a measurement of `runs` runs can stand for: `pct` itself with the minimum
 * evidence the gates ask for it (a p99 needs 1,000 runs), else the highest lower one that has it
 * (at least the median), a lower bound of `pct`. The upload's 20 timed runs have no p99: their
 * slowest, one scheduler hiccup on a busy control plane, refused a re-versioned model the fleet
 * ran at 3 ms as a 51 ms one before any device had tried it, and a device's own 10 smoke runs at
 * its start kept it from ever taking back the model it then ran for minutes (issue 17's real-agent runs).
 */
function readablePercentile(pct: LatencyPercentile, runs: number | undefined): { read: LatencyPercentile; note: string } {
  if (runs === undefined) return { read: pct, note: '' };
  const order: LatencyPercentile[] = ['p99', 'p95', 'p50'];
  const enough = (p: LatencyPercentile): boolean => runs >= defaultEvidence(quantileOf(p)).minInferences;
  const read = order.slice(order.indexOf(pct)).find(enough) ?? 'p50';
  if (read === pct) return { read, note: '' };
  return { read, note: `; ${runs} run(s) show no ${pct}: their ${read}, a lower bound` };
}

type Check =
  { ok: true; placement: Placement; latency: NonNullable<ReturnType<typeof predictLatency>>; powerW: number } | { ok: false; why: string };

function check(
  v: VariantCandidate,
  hw: HardwareProfile,
  policy: ScenarioPolicy,
  ctx: AssignmentContext,
  device: DeviceMeasurements,
): Check {
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
  const latency = predictLatency(v, hw, policy.latencyPercentile, device);
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
 * and meets the tier's latency target (predicted by `predictLatency`, which states its basis).
 * Every outcome says why.
 */
export function chooseVariant(
  hw: HardwareProfile,
  policy: ScenarioPolicy,
  candidates: readonly VariantCandidate[],
  ctx: AssignmentContext,
  device: DeviceMeasurements = {},
): AssignmentDecision {
  const rejected: { variantId: string; precision: Precision; why: string }[] = [];
  for (const precision of policy.precisionOrder) {
    for (const v of candidates.filter((c) => c.precision === precision)) {
      const c = check(v, hw, policy, ctx, device);
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
