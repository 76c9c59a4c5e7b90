import type { AgentPhase, DesiredState } from '@edge-fleet/shared';
import type { Clock, TimerHandle } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import { acceptDesired, phaseOfStep, plan, restingPhase } from './reconcile.planner.js';
import type { StepExecutor } from './step.executor.js';

/** Guard against a planner bug turning into a hot loop. */
const MAX_STEPS_PER_PASS = 50;
const RETRY_BASE_MS = 15_000;
const RETRY_MAX_MS = 600_000;

export interface ReconcilerDeps {
  executor: StepExecutor;
  clock: Clock;
  logger: Logger;
  onPhase: (phase: AgentPhase) => void;
}

/**
 * One reconcile at a time: plan → execute the first step → plan again, always against the
 * latest accepted target, so a desired state arriving mid-update is picked up at the next step.
 */
export class Reconciler {
  private target: DesiredState | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private phase: AgentPhase | null = null;
  private retryTimer: TimerHandle | null = null;
  private retries = 0;
  private stopped = false;

  constructor(private readonly deps: ReconcilerDeps) {}

  get currentTarget(): DesiredState | null {
    return this.target;
  }

  /** A failure of the current target shows at once, even before the pass has wound down. */
  get currentPhase(): AgentPhase {
    const resting = restingPhase(this.deps.executor.snapshot(), this.target);
    return resting === 'failed' ? resting : (this.phase ?? resting);
  }

  /** Accepts a verified desired state unless it is older than the applied watermark or the current target. */
  setTarget(desired: DesiredState): boolean {
    const verdict = acceptDesired(desired, this.deps.executor.state.watermark, this.target?.assignmentVersion ?? null);
    if (!verdict.accept) {
      this.deps.logger.warn('desired state refused', { reason: verdict.reason });
      return false;
    }
    if (this.target?.assignmentVersion !== desired.assignmentVersion) this.retries = 0;
    this.target = desired;
    this.kick();
    return true;
  }

  /** The watchdog's verdict: the rollback runs as the next step, serialised with any update in progress. */
  rollback(reason: string): void {
    this.deps.executor.requestRollback(reason);
    this.kick();
  }

  /** Starts a pass, or marks one to follow the pass in progress. */
  kick(): void {
    if (this.stopped) return;
    if (this.running !== null) {
      this.again = true;
      return;
    }
    this.running = this.loop().finally(() => {
      this.running = null;
    });
  }

  /** Resolves once no pass is running (tests and shutdown). */
  async idle(): Promise<void> {
    while (this.running !== null) await this.running;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer !== null) this.deps.clock.clearTimeout(this.retryTimer);
    await this.idle();
  }

  private async loop(): Promise<void> {
    do {
      this.again = false;
      await this.pass();
    } while (this.again && !this.stopped);
  }

  private async pass(): Promise<void> {
    for (let i = 0; i < MAX_STEPS_PER_PASS && !this.stopped; i++) {
      const target = this.target;
      const steps = plan(this.deps.executor.snapshot(), target);
      const step = steps[0];
      if (step === undefined) break;
      const version = target?.assignmentVersion ?? this.deps.executor.state.watermark ?? 0;
      this.deps.logger.info('reconcile step', { step: step.kind, assignmentVersion: version });
      const phase = phaseOfStep(step.kind);
      if (phase !== null) this.setPhase(phase);
      await this.deps.executor.execute(step, version);
    }
    const snapshot = this.deps.executor.snapshot();
    this.setPhase(restingPhase(snapshot, this.target));
    this.scheduleRetry();
  }

  /** A failed download is retried with capped, jittered backoff; corrupt artifacts are not. */
  private scheduleRetry(): void {
    const last = this.deps.executor.state.lastUpdate;
    const target = this.target;
    const failedHere = target !== null && this.currentPhase === 'failed' && last?.assignmentVersion === target.assignmentVersion;
    if (!failedHere || last?.reasonCode !== 'download_failed' || this.retryTimer !== null || this.stopped) return;
    const base = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** this.retries);
    const delay = base / 2 + Math.random() * (base / 2);
    this.retries++;
    this.deps.logger.info('download retry scheduled', { inMs: Math.round(delay) });
    this.retryTimer = this.deps.clock.setTimeout(() => {
      this.retryTimer = null;
      this.deps.executor.clearFailure();
      this.kick();
    }, delay);
  }

  private setPhase(phase: AgentPhase): void {
    if (phase === this.phase) return;
    this.phase = phase;
    this.deps.onPhase(phase);
  }
}
