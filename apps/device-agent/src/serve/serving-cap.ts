import type { Clock } from '../core/clock.js';
import { dutyOffFor, type DutyCycle } from '../workload/workload.generator.js';
import { ServeError } from './serve.errors.js';

/** What a remediation (M14) caps on this device, from its desired state's `runtime.remediation`. */
export interface ServingCapSettings {
  /** The remediation action that set it (named in refusals). */
  actionId: string;
  /** Inferences per second at most; absent: no rate cap. */
  maxRateHz?: number;
  /** Low-power mode: serve only the first `duty` share of every period; absent: always. */
  dutyCycle?: DutyCycle;
}

/**
 * The remediation caps applied to applications' requests, not only to the probe: a device capped
 * for power runs at most `maxRateHz` inferences a second (a token bucket holding one second of
 * them) and, in low-power mode, only in the working share of each period. A request over the cap
 * is answered 429 (rate) or 503 (low-power pause) with Retry-After and the action that set it, or
 * forwarded by a hybrid device (the cloud node does the work); cache hits run nothing and pass.
 * Refusals are deliberate, so they are not counted as failed inferences.
 */
export class ServingCap {
  private tokens = 0;
  private refilledAt = 0;

  constructor(
    private readonly settings: ServingCapSettings,
    private readonly clock: Clock,
  ) {
    this.tokens = this.burst;
    this.refilledAt = clock.now();
  }

  private get burst(): number {
    return Math.max(1, this.settings.maxRateHz ?? 0);
  }

  /** Null: the request may run now (and takes its token); else the refusal to answer with. */
  admit(): ServeError | null {
    const now = this.clock.now();
    const { dutyCycle, maxRateHz, actionId } = this.settings;
    if (dutyCycle !== undefined) {
      const offMs = dutyOffFor(dutyCycle, now);
      if (offMs > 0) {
        const seconds = Math.max(1, Math.ceil(offMs / 1000));
        return new ServeError(503, `low-power mode (remediation ${actionId}): serving resumes in ${seconds} s`, {
          'retry-after': String(seconds),
        });
      }
    }
    if (maxRateHz === undefined) return null;
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.refilledAt) / 1000) * maxRateHz);
    this.refilledAt = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return null;
    }
    const seconds = Math.max(1, Math.ceil((1 - this.tokens) / maxRateHz));
    return new ServeError(429, `the device is capped at ${maxRateHz} inferences/s (remediation ${actionId}); retry after ${seconds} s`, {
      'retry-after': String(seconds),
    });
  }
}
