import { z } from 'zod';
import type { DeviceDistribution } from './gate-stats.js';
import type { SparseHistogram } from './histogram.js';
import {
  compareWithBaseline,
  judgeLatencyVsTarget,
  type ClassComparison,
  type DeviceJudgement,
  type GateVerdictKind,
} from './latency-gates.js';
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
  /** latency, baseline_regression: inferences a device and a cohort need (default 10 / (1 − q) for the tier's percentile q). */
  minInferences: z.int().min(1).max(1e9).optional(),
  /** latency, baseline_regression: telemetry windows a device and a cohort need (default 3). */
  minWindows: z.int().min(1).max(10_000).optional(),
  /** baseline_regression: the smallest regression in ms that counts (default 2 % of the tier target). */
  minAbsoluteMs: z.number().min(0).max(3_600_000).optional(),
  /** baseline_regression: confidence of the canary vs baseline test (default 0.99). */
  confidence: z.number().min(0.5).max(0.999).optional(),
});
export type GateSpec = z.infer<typeof GateSpecSchema>;

/**
 * The practical threshold of baseline_regression: a slowdown at the tier percentile smaller than
 * this share is no regression, however significant (bench:gates measures what it costs).
 */
export const DEFAULT_REGRESSION_TOLERANCE = 0.15;

export const DEFAULT_GATES: readonly GateSpec[] = [
  { metric: 'latency', maxFailingShare: 0 },
  { metric: 'error_rate', maxFailingShare: 0 },
  { metric: 'power', maxFailingShare: 0 },
  { metric: 'update_failures', maxFailingShare: 0 },
  { metric: 'silence', maxFailingShare: 0 },
  { metric: 'baseline_regression', max: DEFAULT_REGRESSION_TOLERANCE, maxFailingShare: 0 },
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
    /**
     * How long past the soak the gates may wait for enough evidence (default: the soak again, at
     * most a day); then they report insufficient evidence and the rollout pauses.
     */
    evidenceWaitSeconds: z
      .int()
      .min(0)
      .max(7 * 86_400)
      .optional(),
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
  /**
   * Hybrid devices: requests forwarded to a cloud node over the same windows (not in `inferences`:
   * the gates judge the local model's runs, and report this share beside them).
   */
  remoteInferences?: number;
  /** Legacy agents: median over its windows of the latency at the tier percentile, ms (approximate). */
  latencyMs: number | null;
  /** Its windows' latency histograms merged (null: no window carried one). */
  histogram: SparseHistogram | null;
  /** Windows that carried a histogram. */
  histogramWindows: number;
  /** Mean power over its windows, W, with where it came from. */
  powerW: number | null;
  powerSource: string | null;
  /** The tier policy that applies to the device. */
  policy: { latencyTargetMs: number; latencyPercentile: LatencyPercentile; errorRateMax: number; powerBudgetW: number | null };
}

/** Devices of the same hardware class still on the old model over the same period. */
export interface BaselineFigures {
  devices: number;
  /** Legacy: median of the windows' percentile. */
  latencyMs: number | null;
  errorRate: number | null;
  /** Each baseline device's merged histogram. */
  distributions: DeviceDistribution[];
}

export interface GateOutcome {
  metric: GateMetric;
  /** insufficient_evidence: too few inferences or windows to judge; the wave waits, then pauses. */
  outcome: GateVerdictKind;
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
  /** Devices neither passing nor failing for want of evidence, with their counts. */
  waitingDevices?: { deviceId: string; why: string }[];
  /** baseline_regression: the canary vs baseline test per hardware class. */
  classes?: ClassComparison[];
}

export interface GateResult {
  outcome: GateVerdictKind;
  passed: boolean;
  evaluatedAt: string;
  devices: number;
  judged: number;
  gates: GateOutcome[];
  /**
   * Hybrid placement: of the requests the wave's devices took, those forwarded to cloud nodes. The
   * gates judge local runs only; this says how much of the traffic they did not see. Absent when
   * no device forwarded.
   */
  remote?: { local: number; remote: number; share: number; devices: number };
}

const median = (xs: number[]): number | null => {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

const fmt = (x: number, digits = 3): string => Number(x.toPrecision(digits)).toString();

/** Sorts a gate's per-device verdicts: judged (pass or fail, failures listed) and waiting for evidence. */
function split(
  verdicts: readonly DeviceJudgement[],
  reporting: readonly DeviceEvidence[],
  failing: { deviceId: string; why: string }[],
): { judged: DeviceEvidence[]; waiting: { deviceId: string; why: string }[] } {
  const byId = new Map(verdicts.map((v) => [v.deviceId, v]));
  const waiting: { deviceId: string; why: string }[] = [];
  const judged = reporting.filter((d) => {
    const v = byId.get(d.deviceId);
    if (!v) return false;
    if (v.verdict === 'insufficient_evidence') {
      waiting.push({ deviceId: d.deviceId, why: v.why });
      return false;
    }
    if (v.verdict === 'failed') failing.push({ deviceId: d.deviceId, why: v.why });
    return true;
  });
  return { judged, waiting };
}

/** The old rule, for devices or baselines without histograms (old agents): medians of window percentiles, approximate. */
function legacyRegression(d: DeviceEvidence, b: BaselineFigures, tol: number): DeviceJudgement | null {
  if (b.latencyMs === null || d.latencyMs === null) return null;
  const limit = Math.max(b.latencyMs * (1 + tol), b.latencyMs + BASELINE_SLACK_OF_TARGET * d.policy.latencyTargetMs);
  const failed = d.latencyMs > limit;
  return {
    deviceId: d.deviceId,
    verdict: failed ? 'failed' : 'passed',
    figureMs: d.latencyMs,
    approximate: true,
    why: `≈ ${fmt(d.latencyMs)} ms vs baseline ≈ ${fmt(b.latencyMs)} ms on ${d.hardwareClass} (+${fmt((d.latencyMs / b.latencyMs - 1) * 100)} %; approximate: legacy agents without histograms)`,
  };
}

/** Canary vs baseline per hardware class (latency by the statistical test, error rate by its tolerance). */
function judgeBaseline(
  reporting: readonly DeviceEvidence[],
  g: GateSpec,
  baseline: (hardwareClass: string) => BaselineFigures | null,
): { verdicts: DeviceJudgement[]; classes: ClassComparison[]; detail: string } {
  const tol = g.max ?? DEFAULT_REGRESSION_TOLERANCE;
  const { classes, devices } = compareWithBaseline(reporting, { ...g, relative: tol }, (hc) => {
    const b = baseline(hc);
    return b && b.distributions.length > 0 ? b : null;
  });
  const statistical = new Map(devices.map((d) => [d.deviceId, d]));
  const verdicts: DeviceJudgement[] = [];
  for (const d of reporting) {
    const b = baseline(d.hardwareClass);
    if (!b) continue;
    let v = statistical.get(d.deviceId) ?? legacyRegression(d, b, tol);
    // errors too: beyond the tolerance and a tenth of the tier's maximum error rate
    const rate = d.errors / d.inferences;
    if (b.errorRate !== null && rate > Math.max(b.errorRate * (1 + tol), b.errorRate + BASELINE_SLACK_OF_TARGET * d.policy.errorRateMax)) {
      v = {
        deviceId: d.deviceId,
        verdict: 'failed',
        figureMs: v?.figureMs ?? null,
        approximate: false,
        why: `error rate ${fmt(rate)} vs baseline ${fmt(b.errorRate)} on ${d.hardwareClass}`,
      };
    }
    if (v) verdicts.push(v);
  }
  const legacyClasses = [
    ...new Set(reporting.filter((d) => verdicts.some((v) => v.approximate && v.deviceId === d.deviceId)).map((d) => d.hardwareClass)),
  ];
  const legacy = legacyClasses.map((hc) => {
    const b = baseline(hc) as BaselineFigures;
    return `${hc}: baseline ≈ ${b.latencyMs === null ? 'n/a' : `${fmt(b.latencyMs)} ms`} over ${b.devices} device(s), compared approximately (legacy agents without histograms: medians of window percentiles)`;
  });
  const detail =
    verdicts.length === 0 && classes.length === 0
      ? 'no baseline cohort on the same hardware class still runs the old model; not compared'
      : [...classes.map((c) => c.why), ...legacy].join('; ');
  return { verdicts, classes, detail };
}

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
    let waiting: { deviceId: string; why: string }[] = [];
    let classes: ClassComparison[] = [];
    let insufficient = false;
    let cohortFailed = false;
    switch (g.metric) {
      case 'latency': {
        const verdicts = judgeLatencyVsTarget(reporting, g);
        ({ judged, waiting } = split(verdicts, reporting, failing));
        figure = median(verdicts.filter((v) => v.figureMs !== null).map((v) => v.figureMs as number));
        threshold = g.max ?? judged[0]?.policy.latencyTargetMs ?? null;
        const approx = verdicts.some((v) => v.approximate && v.figureMs !== null)
          ? ' (approximate for legacy agents without histograms)'
          : '';
        detail = `latency at the tier percentile of each device's merged distribution vs ${g.max !== undefined ? `${fmt(g.max)} ms` : 'the tier target'}: median ${figure === null ? 'n/a' : `${fmt(figure)} ms`}${approx}; ${judged.length} judged, ${waiting.length} waiting for evidence`;
        insufficient = judged.length === 0;
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
        const r = judgeBaseline(reporting, g, baseline);
        ({ judged, waiting } = split(r.verdicts, reporting, failing));
        classes = r.classes;
        threshold = g.max ?? DEFAULT_REGRESSION_TOLERANCE;
        // as before: the canary's figure over the baseline's (1.3 = 30 % slower), median over hardware classes
        figure = median(classes.filter((c) => c.effect !== null).map((c) => 1 + (c.effect as number)));
        insufficient = classes.some((c) => c.verdict === 'insufficient_evidence') || (judged.length === 0 && waiting.length > 0);
        cohortFailed = classes.some((c) => c.verdict === 'failed');
        detail = r.detail;
        break;
      }
    }
    const failed = cohortFailed || (judged.length > 0 && failing.length / judged.length > g.maxFailingShare + 1e-12);
    const outcome: GateVerdictKind = failed ? 'failed' : insufficient ? 'insufficient_evidence' : 'passed';
    return {
      metric: g.metric,
      outcome,
      passed: outcome === 'passed',
      detail,
      judged: judged.length,
      failing: failing.length,
      maxFailingShare: g.maxFailingShare,
      figure,
      threshold,
      failingDevices: failing.slice(0, 50),
      ...(waiting.length ? { waitingDevices: waiting.slice(0, 50) } : {}),
      ...(classes.length ? { classes } : {}),
    };
  });
  const overall: GateVerdictKind = outcomes.some((o) => o.outcome === 'failed')
    ? 'failed'
    : outcomes.some((o) => o.outcome === 'insufficient_evidence')
      ? 'insufficient_evidence'
      : 'passed';
  const local = evidence.reduce((n, d) => n + d.inferences, 0);
  const remote = evidence.reduce((n, d) => n + (d.remoteInferences ?? 0), 0);
  return {
    outcome: overall,
    passed: overall === 'passed',
    evaluatedAt: now.toISOString(),
    devices: evidence.length,
    judged: judgedAll.length,
    gates: outcomes,
    ...(remote > 0
      ? {
          remote: {
            local,
            remote,
            share: remote / (local + remote),
            devices: evidence.filter((d) => (d.remoteInferences ?? 0) > 0).length,
          },
        }
      : {}),
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
