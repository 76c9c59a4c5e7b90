import {
  binomialShareUpper,
  binomialUpperTail,
  bucketEdges,
  DEFAULT_GATE_CONFIDENCE,
  LatencyHistogram,
  quantileOf,
  type LatencyPercentile,
  type SparseHistogram,
  type TelemetryWindow,
} from '@edge-fleet/shared';

/** The tier targets a freshly activated model must meet (from `defaultPolicy(scenario)`). */
export interface WatchdogPolicy {
  latencyTargetMs: number;
  latencyPercentile: LatencyPercentile;
  errorRateMax: number;
}

export interface WatchdogConfig {
  /** Telemetry windows judged after an activation before the model passes. */
  windows: number;
  /**
   * Windows in which nothing completed (a hung model), or — for windows without a latency
   * histogram — windows over a target, that send the device back to the previous slot.
   */
  breachesToRollback: number;
  /** Confidence of the tests on the accumulated runs (default: the rollout gates' 0.99). */
  confidence?: number;
  /** The previous model's latest windows kept as its record on this device (default 12). */
  baselineWindows?: number;
}

export const DEFAULT_WATCHDOG: WatchdogConfig = { windows: 3, breachesToRollback: 2 };

export type WatchdogVerdict =
  { kind: 'idle' } | { kind: 'watching'; judged: number; breaches: number } | { kind: 'passed' } | { kind: 'rollback'; reason: string };

/** The runs of a stretch of windows: merged latency histogram and error counts. */
class RunRecord {
  readonly histogram = new LatencyHistogram();
  inferences = 0;
  errors = 0;

  add(window: TelemetryWindow, histogram: SparseHistogram): void {
    this.histogram.addSparse(histogram);
    this.inferences += window.inferences;
    this.errors += window.errors;
  }

  /** Runs that lie wholly above `ms` (their bucket's lower edge is past it). */
  over(ms: number): number {
    let n = 0;
    for (const [i, c] of this.histogram.toSparse()) if (bucketEdges(i)[0] > ms) n += c;
    return n;
  }
}

interface Watch {
  variantId: string;
  sha256: string;
  since: number;
  policy: WatchdogPolicy;
  judged: number;
  /** Hung windows and (legacy) windows over a target. */
  breaches: string[];
  runs: RunRecord;
  /** The previous model's record on this device when the new one was armed. */
  baseline: RunRecord | null;
}

/**
 * Pure judge of a model on probation: fed each closed telemetry window, it decides whether the
 * device must return to its previous model. Needs no network.
 *
 * One ~50-run window's p99 is the slowest run or two: under scheduler noise a healthy model breaks
 * it now and then. So the watchdog judges the runs of all windows since the activation together,
 * as the rollout gates do: it rolls back only when so many runs lie above the target that the tier
 * percentile cannot be within it (a one-sided binomial test at the gates' confidence, split over
 * the windows it looks at), and more of them than the previous model had above it on this same
 * device (its Clopper–Pearson upper bound), so a device that is slow for every model does not
 * blame the new one. Errors are tested the same way against the tier's error rate. Windows
 * without histograms (older agents' windows replayed in tests) are judged one by one as before.
 */
export class ModelWatchdog {
  private watch: Watch | null = null;
  private readonly history: { variantId: string; window: TelemetryWindow; histogram: SparseHistogram }[] = [];

  constructor(private readonly config: WatchdogConfig = DEFAULT_WATCHDOG) {}

  /** Starts judging windows that open at or after `since` (a window spanning the swap says little). */
  arm(model: { variantId: string; sha256: string }, policy: WatchdogPolicy, since: number): void {
    const previous = this.history.filter((h) => h.variantId !== model.variantId);
    let baseline: RunRecord | null = null;
    if (previous.length > 0) {
      baseline = new RunRecord();
      for (const h of previous) baseline.add(h.window, h.histogram);
    }
    this.history.length = 0;
    this.watch = {
      variantId: model.variantId,
      sha256: model.sha256,
      since,
      policy,
      judged: 0,
      breaches: [],
      runs: new RunRecord(),
      baseline,
    };
  }

  disarm(): void {
    this.watch = null;
  }

  get watching(): string | null {
    return this.watch?.sha256 ?? null;
  }

  observe(window: TelemetryWindow): WatchdogVerdict {
    const w = this.watch;
    if (w === null) {
      this.remember(window);
      return { kind: 'idle' };
    }
    if (Date.parse(window.windowStart) < w.since || window.variantId !== w.variantId) {
      return { kind: 'watching', judged: w.judged, breaches: w.breaches.length };
    }
    w.judged++;
    const histogram = window.latencyHistogram ?? null;
    if (window.inferences === 0 || window.latencyMs === null) {
      w.breaches.push(`window ${window.seq}: no inference completed`);
    } else if (histogram !== null && histogram.length > 0) {
      w.runs.add(window, histogram);
    } else {
      const breach = judgeWindow(window, w.policy);
      if (breach !== null) w.breaches.push(`window ${window.seq}: ${breach}`);
    }
    const why = w.breaches.length >= this.config.breachesToRollback ? windowsReason(w) : this.testRuns(w);
    if (why !== null) {
      this.watch = null;
      return {
        kind: 'rollback',
        reason: `watchdog: model ${w.variantId} (${w.sha256.slice(0, 12)}) ${why}; returned to the previous model.`,
      };
    }
    if (w.judged >= this.config.windows) {
      this.watch = null;
      return { kind: 'passed' };
    }
    return { kind: 'watching', judged: w.judged, breaches: w.breaches.length };
  }

  /** Keeps the active model's latest windows: the record a new model is compared with. */
  private remember(window: TelemetryWindow): void {
    const histogram = window.latencyHistogram ?? null;
    if (window.inferences === 0 || window.variantId === null || histogram === null || histogram.length === 0) return;
    this.history.push({ variantId: window.variantId, window, histogram });
    const keep = this.config.baselineWindows ?? 12;
    while (this.history.length > keep) this.history.shift();
  }

  /** Why the runs since the activation break the tier's targets beyond doubt, or null. */
  private testRuns(w: Watch): string | null {
    const { latencyPercentile: p, latencyTargetMs: target, errorRateMax } = w.policy;
    const runs = w.runs;
    const n = runs.histogram.count;
    if (n === 0) return null;
    // Each window is a look at the data: Bonferroni over the looks keeps the overall error rate.
    const alpha = (1 - (this.config.confidence ?? DEFAULT_GATE_CONFIDENCE)) / 2 / Math.max(1, this.config.windows);

    if (runs.errors > 0 && runs.errors / runs.inferences > errorRateMax) {
      const pValue = binomialUpperTail(runs.inferences, runs.errors, errorRateMax);
      if (pValue < alpha)
        return (
          `broke its tier target (error rate ${round(runs.errors / runs.inferences)} > ${errorRateMax}): ` +
          `${runs.errors} error(s) in ${runs.inferences} inference(s) ` +
          `in ${w.judged} window(s) after activation (p = ${fmt(pValue)})`
        );
    }

    const tierShare = 1 - quantileOf(p);
    const over = runs.over(target);
    if (over / n <= tierShare) return null;
    const base = w.baseline;
    const baseOver = base ? base.over(target) : 0;
    const baseN = base ? base.histogram.count : 0;
    const baseUpper = base && baseN > 0 ? binomialShareUpper(baseN, baseOver, alpha) : 0;
    const allowed = Math.max(tierShare, baseUpper);
    const pValue = binomialUpperTail(n, over, allowed);
    if (!(pValue < alpha)) return null;
    const figure = runs.histogram.quantile(quantileOf(p));
    const previous = base ? `, the previous model ${baseOver} of ${baseN} on this device` : '';
    return (
      `broke its tier target (${p} <= ${target} ms, error rate <= ${errorRateMax}): ${p} ${fmt(figure)} ms > ${target} ms over ` +
      `${n} run(s) in ${w.judged} window(s) after activation; ${over} run(s) above ${target} ms ` +
      `(the tier allows ${pct(tierShare)}${previous}; p = ${fmt(pValue)})`
    );
  }
}

function windowsReason(w: Watch): string {
  const { latencyPercentile: p, latencyTargetMs: t, errorRateMax: e } = w.policy;
  return (
    `broke its tier target (${p} <= ${t} ms, error rate <= ${e}) in ${w.breaches.length} of ${w.judged} windows ` +
    `after activation. ${w.breaches.join('; ')}`
  );
}

/** Why one window breaks the policy, or null when it meets it (windows without a histogram). */
export function judgeWindow(window: TelemetryWindow, policy: WatchdogPolicy): string | null {
  // A full window without one finished inference is a hung model: it breaks any latency target.
  if (window.inferences === 0 || window.latencyMs === null) return 'no inference completed';
  const reasons: string[] = [];
  const latency = window.latencyMs[policy.latencyPercentile];
  if (latency > policy.latencyTargetMs) reasons.push(`${policy.latencyPercentile} ${latency} ms > ${policy.latencyTargetMs} ms`);
  const errorRate = window.errors / window.inferences;
  if (errorRate > policy.errorRateMax) reasons.push(`error rate ${round(errorRate)} > ${policy.errorRateMax}`);
  return reasons.length === 0 ? null : reasons.join(', ');
}

function round(n: number): number {
  return Math.round(n * 10_000) / 10_000;
}

function fmt(n: number): string {
  return n >= 0.01 || n === 0 ? String(Math.round(n * 1000) / 1000) : n.toExponential(2);
}

function pct(share: number): string {
  return `${Math.round(share * 10_000) / 100} %`;
}
