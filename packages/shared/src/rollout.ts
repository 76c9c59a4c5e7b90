import { z } from 'zod';
import type { LatencyPercentile } from './policy.js';
import { DeviceIdSchema, ScenarioSchema } from './schemas.js';

/** Who a rollout is for: every given filter must match (a scenario, labels, explicit ids). */
export const RolloutTargetSchema = z
  .strictObject({
    scenario: ScenarioSchema.optional(),
    labels: z.record(z.string().min(1).max(64), z.string().max(256)).optional(),
    deviceIds: z.array(DeviceIdSchema).min(1).max(100_000).optional(),
  })
  .refine((t) => t.scenario !== undefined || (t.labels !== undefined && Object.keys(t.labels).length > 0) || t.deviceIds !== undefined, {
    message: 'the target is empty: give a scenario, labels or deviceIds',
  });
export type RolloutTarget = z.infer<typeof RolloutTargetSchema>;

export const GATE_METRICS = ['latency', 'error_rate', 'power', 'update_failures', 'silence', 'baseline_regression'] as const;
export type GateMetric = (typeof GATE_METRICS)[number];

export const GateSpecSchema = z.strictObject({
  metric: z.enum(GATE_METRICS, {
    error: (i) => `metric ${JSON.stringify(i.input)} does not exist; gates can use ${GATE_METRICS.join(', ')}`,
  }),
  /**
   * The threshold, where it is not the policy's: latency ms, error rate (0..1), watts; for
   * baseline_regression the tolerated relative increase (0.25 = 25 %). Unused by update_failures and silence.
   */
  max: z.number().min(0).max(3_600_000).optional(),
  /** The share of judged devices that may fail this gate before the wave fails (0 = none). */
  maxFailingShare: z.number().min(0).max(1).default(0),
});
export type GateSpec = z.infer<typeof GateSpecSchema>;

export const DEFAULT_GATES: readonly GateSpec[] = [
  { metric: 'latency', maxFailingShare: 0 },
  { metric: 'error_rate', maxFailingShare: 0 },
  { metric: 'power', maxFailingShare: 0 },
  { metric: 'update_failures', maxFailingShare: 0 },
  { metric: 'silence', maxFailingShare: 0 },
  { metric: 'baseline_regression', max: 0.25, maxFailingShare: 0 },
];

export const WaveSpecSchema = z
  .strictObject({
    /** A number of devices, or */
    count: z.int().min(1).max(1_000_000).optional(),
    /** a share of the target, in percent. */
    percent: z.number().gt(0).max(100).optional(),
    /** How long the wave's devices run the new model before the gates judge it. */
    soakSeconds: z
      .int()
      .min(1)
      .max(7 * 86_400),
    /** The wave waits for an operator's approval before it starts (not allowed on the first wave). */
    requireApproval: z.boolean().default(false),
    /** Gates for this wave only, replacing the rollout's (e.g. a stricter canary). */
    gates: z
      .array(GateSpecSchema)
      .max(GATE_METRICS.length)
      .refine((g) => new Set(g.map((x) => x.metric)).size === g.length, 'a metric may have one gate only')
      .optional(),
  })
  .refine((w) => (w.count === undefined) !== (w.percent === undefined), {
    message: 'a wave has either a count or a percent, not both or neither',
  });
export type WaveSpec = z.infer<typeof WaveSpecSchema>;

/** A latency regression against the baseline counts only beyond this share of the tier target as well. */
export const BASELINE_SLACK_OF_TARGET = 0.1;

export const FailurePolicySchema = z.enum(['pause', 'rollback']);
export type FailurePolicy = z.infer<typeof FailurePolicySchema>;

export const CreateRolloutSchema = z
  .strictObject({
    name: z.string().min(1).max(120).optional(),
    modelVersionId: z.uuid(),
    target: RolloutTargetSchema,
    waves: z.array(WaveSpecSchema).min(1).max(20),
    gates: z
      .array(GateSpecSchema)
      .max(GATE_METRICS.length)
      .refine((g) => new Set(g.map((x) => x.metric)).size === g.length, 'a metric may have one gate only')
      .optional(),
    /** A failing wave pauses the rollout, or sends the wave's devices back to what they ran. */
    failurePolicy: FailurePolicySchema.default('rollback'),
    /** Devices notified per second (each with jitter), so a wave is no thundering herd. */
    notifyRatePerSecond: z.number().min(0.1).max(10_000).default(100),
  })
  .refine((r) => r.waves[0]?.requireApproval !== true, {
    message: 'the first wave (the canary) starts at once; approval applies to later waves',
    path: ['waves', 0, 'requireApproval'],
  });
export type CreateRollout = z.infer<typeof CreateRolloutSchema>;
export type CreateRolloutInput = z.input<typeof CreateRolloutSchema>;

export const ROLLOUT_STATUSES = ['running', 'awaiting_approval', 'paused', 'completed', 'aborted', 'rolled_back'] as const;
export type RolloutStatus = (typeof ROLLOUT_STATUSES)[number];
/** A device may be in one rollout in these statuses at a time. */
export const ACTIVE_ROLLOUT_STATUSES: readonly RolloutStatus[] = ['running', 'awaiting_approval', 'paused'];

export class RolloutPlanError extends Error {
  override name = 'RolloutPlanError';
}

/**
 * How many devices each wave gets. Percentages are of the whole target (rounded up, at least one
 * device); the last wave takes every device the earlier ones did not. Throws with the reason when
 * the waves do not add up.
 */
export function planWaveSizes(total: number, waves: readonly Pick<WaveSpec, 'count' | 'percent'>[]): number[] {
  if (total <= 0) throw new RolloutPlanError('the target matches no device');
  const percents = waves.map((w) => w.percent ?? 0);
  const percentSum = percents.reduce((a, b) => a + b, 0);
  if (percentSum > 100 + 1e-9)
    throw new RolloutPlanError(`the waves add up to ${round(percentSum)} % of the target; they may not exceed 100 %`);
  if (waves.every((w) => w.percent !== undefined) && Math.abs(percentSum - 100) > 1e-9) {
    throw new RolloutPlanError(`the waves add up to ${round(percentSum)} % of the target; they must add up to 100 %`);
  }
  const sizes: number[] = [];
  let remaining = total;
  waves.forEach((w, i) => {
    const last = i === waves.length - 1;
    const asked = w.count ?? Math.ceil((total * (w.percent ?? 0)) / 100 - 1e-9);
    if (last && w.count !== undefined && w.count !== remaining) {
      throw new RolloutPlanError(
        `the last wave asks for ${w.count} device(s) but ${remaining} of the ${total} target devices remain for it; give the last wave the rest (a percent so the waves add up to 100 %, or count ${remaining})`,
      );
    }
    const size = last ? remaining : Math.min(asked, remaining);
    if (size <= 0)
      throw new RolloutPlanError(`wave ${i + 1} would have no device: the earlier waves already cover all ${total} target devices`);
    sizes.push(size);
    remaining -= size;
  });
  return sizes;
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

/** What one wave device showed since it was notified, as the gates judge it. */
export interface DeviceEvidence {
  deviceId: string;
  hardwareClass: string;
  /** notified | applied | failed (update failure reported) */
  state: string;
  failure: string | null;
  /** Joined after its wave started. */
  late: boolean;
  /** Telemetry windows of the new variant since notification. */
  windows: number;
  inferences: number;
  errors: number;
  /** Median over its windows of the latency at the tier percentile, ms. */
  latencyMs: number | null;
  /** Mean power over its windows, W, with where it came from. */
  powerW: number | null;
  powerSource: string | null;
  /** The tier policy that applies to the device. */
  policy: { latencyTargetMs: number; latencyPercentile: LatencyPercentile; errorRateMax: number; powerBudgetW: number | null };
}

/** Devices of the same hardware class still on the old model over the same period. */
export interface BaselineFigures {
  devices: number;
  latencyMs: number | null;
  errorRate: number | null;
}

export interface GateOutcome {
  metric: GateMetric;
  passed: boolean;
  /** In words, with the figures: what was compared with what. */
  detail: string;
  judged: number;
  failing: number;
  maxFailingShare: number;
  /** The wave's figure for this metric (median over judged devices), where one makes sense. */
  figure: number | null;
  threshold: number | null;
  failingDevices: { deviceId: string; why: string }[];
}

export interface GateResult {
  passed: boolean;
  evaluatedAt: string;
  devices: number;
  judged: number;
  gates: GateOutcome[];
}

const median = (xs: number[]): number | null => {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

const fmt = (x: number, digits = 3): string => Number(x.toPrecision(digits)).toString();

/**
 * Judges a wave (pure): each gate looks at every device it can judge, and fails when more than
 * its share of them break the threshold. Silent devices fail the silence gate; a late joiner that
 * has not reported yet is not judged.
 */
export function evaluateGates(
  evidence: readonly DeviceEvidence[],
  gates: readonly GateSpec[],
  baseline: (hardwareClass: string) => BaselineFigures | null,
  now: Date,
): GateResult {
  const reporting = evidence.filter((d) => d.state !== 'failed' && d.windows > 0 && d.inferences > 0);
  const judgedAll = evidence.filter((d) => !(d.late && d.windows === 0 && d.state !== 'failed'));
  const outcomes = gates.map((g): GateOutcome => {
    const failing: { deviceId: string; why: string }[] = [];
    let judged: DeviceEvidence[] = [];
    let figure: number | null = null;
    let threshold: number | null = null;
    let detail = '';
    switch (g.metric) {
      case 'latency': {
        judged = reporting.filter((d) => d.latencyMs !== null);
        for (const d of judged) {
          const target = g.max ?? d.policy.latencyTargetMs;
          if ((d.latencyMs ?? 0) > target)
            failing.push({ deviceId: d.deviceId, why: `${d.policy.latencyPercentile} ${fmt(d.latencyMs ?? 0)} ms > ${fmt(target)} ms` });
        }
        figure = median(judged.map((d) => d.latencyMs ?? 0));
        threshold = g.max ?? judged[0]?.policy.latencyTargetMs ?? null;
        detail = `latency at the tier percentile vs ${g.max !== undefined ? `${fmt(g.max)} ms` : 'the tier target'}: median ${figure === null ? 'n/a' : `${fmt(figure)} ms`}`;
        break;
      }
      case 'error_rate': {
        judged = reporting;
        for (const d of judged) {
          const rate = d.errors / d.inferences;
          const max = g.max ?? d.policy.errorRateMax;
          if (rate > max)
            failing.push({ deviceId: d.deviceId, why: `error rate ${fmt(rate)} > ${fmt(max)} (${d.errors}/${d.inferences})` });
        }
        figure = median(judged.map((d) => d.errors / d.inferences));
        threshold = g.max ?? judged[0]?.policy.errorRateMax ?? null;
        detail = `errors / inferences vs ${g.max !== undefined ? fmt(g.max) : 'the tier maximum'}: median ${figure === null ? 'n/a' : fmt(figure)}`;
        break;
      }
      case 'power': {
        judged = reporting.filter((d) => d.powerW !== null && (g.max ?? d.policy.powerBudgetW) !== null);
        for (const d of judged) {
          const budget = (g.max ?? d.policy.powerBudgetW) as number;
          if ((d.powerW ?? 0) > budget)
            failing.push({
              deviceId: d.deviceId,
              why: `power ${fmt(d.powerW ?? 0)} W (${d.powerSource ?? 'unknown source'}) > ${fmt(budget)} W`,
            });
        }
        figure = median(judged.map((d) => d.powerW ?? 0));
        threshold = g.max ?? judged[0]?.policy.powerBudgetW ?? null;
        detail =
          judged.length === 0 && reporting.length > 0
            ? 'no power budget applies (the policy sets none and the gate gives no max)'
            : `mean power vs the budget: median ${figure === null ? 'n/a' : `${fmt(figure)} W`}`;
        break;
      }
      case 'update_failures': {
        judged = judgedAll;
        for (const d of judged) if (d.state === 'failed') failing.push({ deviceId: d.deviceId, why: d.failure ?? 'update failed' });
        figure = judged.length ? failing.length / judged.length : null;
        detail = `${failing.length} of ${judged.length} device(s) reported a failed update`;
        break;
      }
      case 'silence': {
        judged = judgedAll.filter((d) => d.state !== 'failed');
        for (const d of judged)
          if (d.windows === 0)
            failing.push({
              deviceId: d.deviceId,
              why: d.state === 'applied' ? 'applied the model but sent no telemetry with it' : 'has not reported running the model',
            });
        figure = judged.length ? failing.length / judged.length : null;
        detail = `${failing.length} of ${judged.length} device(s) silent since notified`;
        break;
      }
      case 'baseline_regression': {
        const tol = g.max ?? 0.25;
        threshold = tol;
        const compared: string[] = [];
        judged = reporting.filter((d) => {
          const b = baseline(d.hardwareClass);
          return b !== null && b.latencyMs !== null && d.latencyMs !== null;
        });
        for (const d of judged) {
          const b = baseline(d.hardwareClass) as BaselineFigures;
          // a regression must also exceed a tenth of the tier target: sub-millisecond jitter is no regression
          const limit = Math.max(
            (b.latencyMs as number) * (1 + tol),
            (b.latencyMs as number) + BASELINE_SLACK_OF_TARGET * d.policy.latencyTargetMs,
          );
          if ((d.latencyMs as number) > limit) {
            failing.push({
              deviceId: d.deviceId,
              why: `${fmt(d.latencyMs as number)} ms vs baseline ${fmt(b.latencyMs as number)} ms on ${d.hardwareClass} (+${fmt(((d.latencyMs as number) / (b.latencyMs as number) - 1) * 100)} %)`,
            });
            continue;
          }
          // errors too: beyond the tolerance and a tenth of the tier's maximum error rate
          const rate = d.errors / d.inferences;
          if (
            b.errorRate !== null &&
            rate > Math.max(b.errorRate * (1 + tol), b.errorRate + BASELINE_SLACK_OF_TARGET * d.policy.errorRateMax)
          ) {
            failing.push({ deviceId: d.deviceId, why: `error rate ${fmt(rate)} vs baseline ${fmt(b.errorRate)} on ${d.hardwareClass}` });
          }
        }
        for (const hc of new Set(judged.map((d) => d.hardwareClass))) {
          const b = baseline(hc) as BaselineFigures;
          compared.push(`${hc}: baseline ${fmt(b.latencyMs as number)} ms over ${b.devices} device(s)`);
        }
        figure = median(judged.map((d) => (d.latencyMs as number) / ((baseline(d.hardwareClass) as BaselineFigures).latencyMs as number)));
        detail =
          judged.length === 0
            ? 'no baseline cohort on the same hardware class still runs the old model; not compared'
            : `latency and error rate vs the old model on the same hardware class, tolerance +${fmt(tol * 100)} % and at least ${BASELINE_SLACK_OF_TARGET * 100} % of the tier target / maximum error rate (${compared.join('; ')})`;
        break;
      }
    }
    const passed = judged.length === 0 || failing.length / judged.length <= g.maxFailingShare + 1e-12;
    return {
      metric: g.metric,
      passed,
      detail,
      judged: judged.length,
      failing: failing.length,
      maxFailingShare: g.maxFailingShare,
      figure,
      threshold,
      failingDevices: failing.slice(0, 50),
    };
  });
  return {
    passed: outcomes.every((o) => o.passed),
    evaluatedAt: now.toISOString(),
    devices: evidence.length,
    judged: judgedAll.length,
    gates: outcomes,
  };
}

/**
 * Spreads devices over the waves: devices are ordered by a hash of (rollout, device) within their
 * hardware class and the classes are interleaved, so a small canary still covers the classes.
 */
export function orderForWaves<T extends { id: string; hardwareClass: string }>(
  devices: readonly T[],
  salt: string,
  hash: (s: string) => string,
): T[] {
  const byClass = new Map<string, { d: T; k: string }[]>();
  for (const d of devices) {
    const l = byClass.get(d.hardwareClass) ?? [];
    l.push({ d, k: hash(`${salt}:${d.id}`) });
    byClass.set(d.hardwareClass, l);
  }
  const lists = [...byClass.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, l]) => l.sort((a, b) => a.k.localeCompare(b.k)));
  const out: T[] = [];
  for (let i = 0; out.length < devices.length; i++) {
    for (const l of lists) {
      const e = l[i];
      if (e) out.push(e.d);
    }
  }
  return out;
}
