import type { LatencyPercentile, TelemetryWindow } from '@edge-fleet/shared';

/** The tier targets a freshly activated model must meet (from `defaultPolicy(scenario)`). */
export interface WatchdogPolicy {
  latencyTargetMs: number;
  latencyPercentile: LatencyPercentile;
  errorRateMax: number;
}

export interface WatchdogConfig {
  /** Telemetry windows judged after an activation. */
  windows: number;
  /** Breaching windows among them that send the device back to the previous slot. */
  breachesToRollback: number;
}

export const DEFAULT_WATCHDOG: WatchdogConfig = { windows: 3, breachesToRollback: 2 };

export type WatchdogVerdict =
  { kind: 'idle' } | { kind: 'watching'; judged: number; breaches: number } | { kind: 'passed' } | { kind: 'rollback'; reason: string };

interface Watch {
  variantId: string;
  sha256: string;
  since: number;
  policy: WatchdogPolicy;
  judged: number;
  breaches: string[];
}

/**
 * Pure judge of a model on probation: fed each closed telemetry window, it decides after enough
 * bad windows that the device must return to its previous model. Needs no network.
 */
export class ModelWatchdog {
  private watch: Watch | null = null;

  constructor(private readonly config: WatchdogConfig = DEFAULT_WATCHDOG) {}

  /** Starts judging windows that open at or after `since` (a window spanning the swap says little). */
  arm(model: { variantId: string; sha256: string }, policy: WatchdogPolicy, since: number): void {
    this.watch = { variantId: model.variantId, sha256: model.sha256, since, policy, judged: 0, breaches: [] };
  }

  disarm(): void {
    this.watch = null;
  }

  get watching(): string | null {
    return this.watch?.sha256 ?? null;
  }

  observe(window: TelemetryWindow): WatchdogVerdict {
    const w = this.watch;
    if (w === null) return { kind: 'idle' };
    if (Date.parse(window.windowStart) < w.since || window.variantId !== w.variantId) {
      return { kind: 'watching', judged: w.judged, breaches: w.breaches.length };
    }
    w.judged++;
    const breach = judgeWindow(window, w.policy);
    if (breach !== null) w.breaches.push(`window ${window.seq}: ${breach}`);
    if (w.breaches.length >= this.config.breachesToRollback) {
      this.watch = null;
      const { latencyPercentile: p, latencyTargetMs: t, errorRateMax: e } = w.policy;
      return {
        kind: 'rollback',
        reason:
          `watchdog: model ${w.variantId} (${w.sha256.slice(0, 12)}) broke its tier target (${p} <= ${t} ms, error rate <= ${e}) ` +
          `in ${w.breaches.length} of ${w.judged} windows after activation; returned to the previous model. ${w.breaches.join('; ')}`,
      };
    }
    if (w.judged >= this.config.windows) {
      this.watch = null;
      return { kind: 'passed' };
    }
    return { kind: 'watching', judged: w.judged, breaches: w.breaches.length };
  }
}

/** Why a window breaks the policy, or null when it meets it. */
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
