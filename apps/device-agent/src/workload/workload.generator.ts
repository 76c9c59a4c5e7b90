import type { Clock, TimerHandle } from '../core/clock.js';
import { errorMessage, type Logger } from '../core/logger.js';
import type { InferenceEngine, RunResult } from '../engine/inference.engine.js';

export interface RunSink {
  record(latencyMs: number | null, ok: boolean): void;
}

/** Low-power mode (remediation, M14): the probe works `duty` of every `periodMs` and idles the rest. */
export interface DutyCycle {
  duty: number;
  periodMs: number;
}

/** Milliseconds until `d`'s next working phase begins at `now` (epoch ms); 0 while in one. The probe and the serving cap share it. */
export function dutyOffFor(d: DutyCycle, now: number): number {
  const phase = now % d.periodMs;
  return phase < d.duty * d.periodMs ? 0 : d.periodMs - phase;
}

/**
 * Drives `run()` at a target rate with never more than one inference in flight. When a run
 * overruns its slot the missed slots are counted in `behind` and the schedule restarts from now,
 * so a slow model never causes a burst of catch-up runs. A duty cycle confines runs to the start
 * of each period (aligned on the clock), so the device idles the rest.
 */
export class WorkloadGenerator {
  private engine: InferenceEngine | null = null;
  private intervalMs: number;
  private running = false;
  private loopDone: Promise<void> = Promise.resolve();
  private wake: (() => void) | null = null;
  private timer: TimerHandle | null = null;
  /** Whether the probe may run now (false while applications' traffic speaks for the device). */
  private gate: () => boolean = () => true;
  private dutyCycle: DutyCycle | null = null;
  /** Schedule slots skipped because the previous run was still going. */
  behind = 0;

  constructor(
    private readonly clock: Clock,
    private readonly sink: RunSink,
    private readonly logger: Logger,
    rateHz: number,
  ) {
    this.intervalMs = 1000 / rateHz;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loopDone = this.loop();
  }

  /** Stops after the in-flight run (if any) has finished. */
  async stop(): Promise<void> {
    this.running = false;
    this.interrupt();
    await this.loopDone;
  }

  setEngine(engine: InferenceEngine | null): void {
    this.engine = engine;
    this.interrupt();
  }

  setGate(gate: () => boolean): void {
    this.gate = gate;
  }

  setRate(rateHz: number): void {
    this.intervalMs = 1000 / rateHz;
  }

  /** null: always on. */
  setDutyCycle(d: DutyCycle | null): void {
    this.dutyCycle = d !== null && d.duty < 1 ? d : null;
    this.interrupt();
  }

  /** Milliseconds until the next working phase begins; 0 while in one. */
  private offFor(now: number): number {
    return this.dutyCycle === null ? 0 : dutyOffFor(this.dutyCycle, now);
  }

  private async loop(): Promise<void> {
    let next = this.clock.now();
    while (this.running) {
      const engine = this.engine;
      if (engine === null) {
        await this.waitFor(null);
        next = this.clock.now();
        continue;
      }
      if (!this.gate()) {
        await this.waitFor(this.intervalMs);
        next = this.clock.now();
        continue;
      }
      const off = this.offFor(this.clock.now());
      if (off > 0) {
        // asleep for the rest of the period: not "behind", the schedule restarts when it wakes
        await this.waitFor(off);
        next = this.clock.now();
        continue;
      }
      const result = await safeRun(engine);
      if (!this.running) break;
      this.sink.record(result.latencyMs, result.ok);
      if (!result.ok) this.logger.debug('inference failed', { error: result.error });
      next += this.intervalMs;
      const now = this.clock.now();
      if (next <= now) {
        this.behind += Math.floor((now - next) / this.intervalMs);
        next = now;
      } else {
        await this.waitFor(next - now);
      }
    }
  }

  /** Sleeps `ms` (or until woken when null); setEngine/stop wake it early. */
  private waitFor(ms: number | null): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
      if (ms !== null) this.timer = this.clock.setTimeout(() => this.interrupt(), ms);
    });
  }

  private interrupt(): void {
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }
}

async function safeRun(engine: InferenceEngine): Promise<RunResult> {
  try {
    return await engine.run();
  } catch (err) {
    return { ok: false, latencyMs: null, error: errorMessage(err) };
  }
}
