import { rm } from 'node:fs/promises';
import type { DesiredModel, HealthTargets, RuntimeSettings, Scenario, UpdateOutcome } from '@edge-fleet/shared';
import { ArtifactError, type ArtifactDownloader, sha256File } from '../artifact/artifact.downloader.js';
import type { CrashPoint } from '../core/crash-points.js';
import type { Clock } from '../core/clock.js';
import { errorMessage, type Logger } from '../core/logger.js';
import type { EngineFactory, InferenceEngine } from '../engine/inference.engine.js';
import type { ModelVetter } from '../engine/model-vetting.js';
import { SERVING_EXECUTION_PROVIDER } from '../engine/ort-session.js';
import { type ActiveRecord, type AgentStateStore, MEASUREMENTS_KEPT, type PersistedState } from '../storage/agent-state.store.js';
import { summarise } from '../telemetry/latency.window.js';
import type { CurrentState, Step } from './reconcile.planner.js';
import { type FailureCode, StepFailure } from './step.failure.js';

/** Smoke runs of a candidate; the first pays for warm-up and is not timed (10 timed: a p95 that means something). */
const SMOKE_RUNS = 11;

export interface ExecutorDeps {
  downloader: ArtifactDownloader;
  createEngine: EngineFactory;
  /**
   * Loads and runs a candidate outside the agent process before the serving worker opens it, so a
   * model that crashes or exhausts the runtime takes down only that process (RELIABILITY rows 4, 10).
   */
  vetModel: ModelVetter;
  store: AgentStateStore;
  clock: Clock;
  logger: Logger;
  seed: number;
  /** The active engine changed (null: nothing runs). */
  onEngine: (engine: InferenceEngine | null, model: DesiredModel | null) => void;
  onRuntime: (runtime: RuntimeSettings) => void;
  /** Throws an ArtifactError ('signature_invalid', or 'hardware_mismatch' for another hardware class) unless the model's signed manifest checks out, for this assignment number. */
  verifyManifest: (model: DesiredModel, assignmentVersion: number) => void;
  /** Something a reported state shows changed (outcome, watermark, active). */
  onChange: () => void;
  /** A new model went live (or was restored still on probation): the watchdog starts judging it. */
  /** `health`: the tier targets that came with the model (absent from older control planes). */
  onProbation?: (model: DesiredModel, scenario: Scenario, since: number, health: HealthTargets | undefined) => void;
  /** Test hook: the process dies here when the point is selected (FLEET_AGENT_CRASH_AT). */
  crashPoint?: (point: CrashPoint) => void;
}

/** Executes planner steps and owns what they change: engines, files and persisted state. */
/** Runs on probation ended by a crash, in a row, after which the model is rejected at the next start. */
export const PROBATION_CRASH_LIMIT = 3;

export class StepExecutor {
  private persisted: PersistedState;
  private activeEngine: InferenceEngine | null = null;
  private candidate: { engine: InferenceEngine | null; state: NonNullable<CurrentState['candidate']> } | null = null;
  private failed: CurrentState['failed'];
  private readonly verified = new Set<string>();
  private rollbackReason: string | null = null;
  private writes: Promise<void> = Promise.resolve();

  constructor(
    private readonly deps: ExecutorDeps,
    initial: PersistedState,
  ) {
    this.persisted = initial;
    this.failed = initial.rejected;
  }

  snapshot(): CurrentState {
    const a = this.persisted.active;
    return {
      watermark: this.persisted.watermark,
      active: a === null || this.activeEngine === null ? null : { model: a.model, runtime: a.runtime },
      candidate: this.candidate === null ? null : { ...this.candidate.state },
      verifiedArtifacts: new Set(this.verified),
      failed: this.failed,
      rollbackRequested: this.rollbackReason !== null,
    };
  }

  get state(): PersistedState {
    return this.persisted;
  }

  /**
   * Brings back a loadable model after a (re)start: every stored artifact is re-hashed, then the
   * active one is loaded, or the previous one if the active file is gone or damaged. A partial
   * download is kept for a resume (download() keeps only the current candidate's).
   */
  async restore(): Promise<void> {
    for (const sha of await this.deps.downloader.listVerified()) {
      const path = this.deps.downloader.modelPath(sha);
      if ((await sha256File(path).catch(() => null)) === sha) this.verified.add(sha);
      else await rm(path, { force: true });
    }
    const crashLooped = await this.leaveCrashLoop();
    const { active, previous } = this.persisted;
    for (const record of [active, previous]) {
      if (record === null) continue;
      if (!this.verified.has(record.model.sha256)) {
        this.deps.logger.error('stored model is missing or no longer matches its sha256', { sha256: record.model.sha256 });
        continue;
      }
      try {
        const engine = await this.loadEngine(
          this.deps.downloader.modelPath(record.model.sha256),
          record.model,
          record.runtime.intraOpThreads,
        );
        this.activeEngine = engine;
        if (record !== active) await this.persist({ ...this.persisted, active: record, previous: null, probation: null });
        this.deps.onRuntime(record.runtime);
        this.deps.onEngine(engine, record.model);
        this.deps.logger.info('restored active model', { sha256: record.model.sha256, fallback: record !== active });
        const probation = this.persisted.probation;
        if (probation?.sha256 === record.model.sha256) {
          // counted before the watchdog starts: a runtime that kills the process again finds it here
          await this.persist({ ...this.persisted, probation: { ...probation, uncleanRuns: probation.uncleanRuns + 1 } });
          this.deps.onProbation?.(record.model, probation.scenario, this.deps.clock.now(), record.runtime.health);
        }
        if (crashLooped) await this.pruneArtifacts();
        return;
      } catch (err) {
        this.deps.logger.error('could not restore a stored model', { sha256: record.model.sha256, error: errorMessage(err) });
      }
    }
    if (active !== null) await this.persist({ ...this.persisted, active: null, previous: null, probation: null });
  }

  /**
   * A model whose runtime kills the agent (a native crash in onnxruntime, an out-of-memory kill)
   * never lives through a telemetry window, so the watchdog never judges it: each restart would load
   * it again. The way RAUC and Mender count boot attempts, a model on probation whose runs ended
   * uncleanly PROBATION_CRASH_LIMIT times in a row is rejected here, before it is loaded again, and
   * the previous model becomes active. Returns whether that happened.
   */
  private async leaveCrashLoop(): Promise<boolean> {
    const { active, previous, probation } = this.persisted;
    if (active === null || probation === null || probation.sha256 !== active.model.sha256) return false;
    if (probation.uncleanRuns < PROBATION_CRASH_LIMIT || previous === null) return false;
    const reason =
      `watchdog: model ${active.model.variantId} (${active.model.sha256.slice(0, 12)}) ended the agent without a clean stop ` +
      `${probation.uncleanRuns} times in a row while on probation (the serving runtime crashed or was killed); returned to the previous model`;
    this.failed = { assignmentVersion: probation.assignmentVersion, sha256: active.model.sha256 };
    const lastUpdate: UpdateOutcome = {
      assignmentVersion: probation.assignmentVersion,
      outcome: 'failed',
      reasonCode: 'watchdog_failed',
      message: reason,
      at: new Date(this.deps.clock.now()).toISOString(),
    };
    await this.persist({ ...this.persisted, active: previous, previous: null, probation: null, rejected: this.failed, lastUpdate });
    this.deps.logger.error('rolled back to the previous model', { from: active.model.sha256, to: previous.model.sha256, reason });
    return true;
  }

  /** The watchdog's verdict: return to the previous slot at the next reconcile step. */
  requestRollback(reason: string): void {
    this.rollbackReason = reason;
  }

  /** The model on probation met its targets: it is kept, the previous one stays as the fallback. */
  async endProbation(): Promise<void> {
    if (this.persisted.probation === null) return;
    await this.persist({ ...this.persisted, probation: null });
  }

  clearFailure(): void {
    this.failed = null;
  }

  async execute(step: Step, assignmentVersion: number): Promise<void> {
    try {
      await this.run(step, assignmentVersion);
    } catch (err) {
      const sha = 'model' in step ? step.model.sha256 : null;
      const code = err instanceof StepFailure || err instanceof ArtifactError ? err.reasonCode : 'load_failed';
      await this.recordFailure(assignmentVersion, sha, code, errorMessage(err));
    }
  }

  private async run(step: Step, assignmentVersion: number): Promise<void> {
    switch (step.kind) {
      case 'discard-candidate':
        return this.discardCandidate();
      case 'download':
        // the signature chain is checked before a byte is fetched, and so before any parse
        this.deps.verifyManifest(step.model, assignmentVersion);
        await this.deps.downloader.download(refOf(step.model));
        this.crash('after-download');
        this.candidate = { engine: null, state: { sha256: step.model.sha256, intraOpThreads: null, stage: 'downloaded' } };
        return;
      case 'verify':
        await this.deps.downloader.verify(refOf(step.model));
        this.verified.add(step.model.sha256);
        if (this.candidate !== null) this.candidate.state.stage = 'verified';
        this.crash('after-verify');
        return;
      case 'load':
        await this.loadCandidate(step.model, step.intraOpThreads);
        this.crash('after-load');
        return;
      case 'smoke':
        return this.smoke(step.model, step.health);
      case 'activate':
        return this.activate(step.model, step.runtime, step.scenario, assignmentVersion);
      case 'rollback':
        return this.rollback();
      case 'update-settings':
        await this.persist({ ...this.persisted, active: { ...this.activeRecord(), model: step.model, runtime: step.runtime } });
        this.deps.onRuntime(step.runtime);
        this.deps.onEngine(this.activeEngine, step.model);
        return;
      case 'unload':
        return this.unload();
      case 'commit':
        return this.commit(step.assignmentVersion);
    }
  }

  private async loadCandidate(model: DesiredModel, intraOpThreads: number): Promise<void> {
    await this.discardCandidate();
    const path = this.deps.downloader.modelPath(model.sha256);
    await this.vet(path, model, intraOpThreads);
    const engine = await this.loadEngine(path, model, intraOpThreads);
    this.candidate = { engine, state: { sha256: model.sha256, intraOpThreads, stage: 'loaded' } };
  }

  /** Nothing is persisted or kept from vetting: a crash during it leaves the candidate 'verified'. */
  private async vet(path: string, model: DesiredModel, intraOpThreads: number): Promise<void> {
    const outcome = await this.deps.vetModel(
      { path, inputs: model.inputs, intraOpThreads, seed: this.deps.seed },
      { onStarted: () => this.crash('during-vetting') },
    );
    if (!outcome.ok) throw new StepFailure(outcome.code, `model ${model.sha256} failed its vetting: ${outcome.message}`);
    const { loadMs, latenciesMs, totalMs } = outcome.report;
    this.deps.logger.info('candidate vetted in a child process', { sha256: model.sha256, loadMs, latenciesMs, totalMs });
  }

  private async loadEngine(path: string, model: DesiredModel, intraOpThreads: number): Promise<InferenceEngine> {
    const engine = this.deps.createEngine({ intraOpThreads, seed: this.deps.seed });
    try {
      await engine.load(path, model.inputs);
      this.deps.logger.info('model loaded', { sha256: model.sha256, placement: engine.placementBasis?.() ?? null });
      return engine;
    } catch (err) {
      await engine.dispose();
      throw new StepFailure('load_failed', `model ${model.sha256} failed to load: ${errorMessage(err)}`);
    }
  }

  /**
   * Smoke runs on the candidate before it may replace the active model: every output finite, and
   * (where the control plane sent the tier targets) the median latency within the target — the
   * first run, which pays for warm-up, is not counted. The timed runs are kept as this device's
   * measurement of the variant, whether or not it meets the target: assignment predicts from it.
   */
  private async smoke(model: DesiredModel, health?: HealthTargets): Promise<void> {
    const c = this.candidate;
    if (c?.engine == null) throw new StepFailure('smoke_failed', 'no candidate loaded');
    const latencies: number[] = [];
    for (let i = 0; i < SMOKE_RUNS; i++) {
      const result = await c.engine.run();
      if (!result.ok) throw new StepFailure('smoke_failed', `smoke run failed: ${result.error ?? 'unknown error'}`);
      if (i > 0 && result.latencyMs !== null) latencies.push(result.latencyMs);
    }
    const median = [...latencies].sort((a, b) => a - b)[latencies.length >> 1] ?? 0;
    await this.recordMeasurement(model.variantId, latencies);
    if (health && median > health.latencyTargetMs) {
      throw new StepFailure(
        'smoke_failed',
        `smoke latency median ${median.toFixed(3)} ms over ${SMOKE_RUNS - 1} runs exceeds the tier target ${health.latencyPercentile} < ${health.latencyTargetMs} ms`,
      );
    }
    c.state.stage = 'smoked';
    this.deps.logger.info('smoke runs passed', {
      sha256: c.state.sha256,
      runs: SMOKE_RUNS,
      medianLatencyMs: median,
      targetMs: health?.latencyTargetMs ?? null,
    });
  }

  private async recordMeasurement(variantId: string, latencies: readonly number[]): Promise<void> {
    const summary = summarise(latencies, Math.max(...latencies));
    if (summary === null) return;
    const measurement = {
      variantId,
      p50: summary.p50,
      p95: summary.p95,
      p99: summary.p99,
      runs: latencies.length,
      executionProvider: SERVING_EXECUTION_PROVIDER,
      measuredAt: new Date(this.deps.clock.now()).toISOString(),
    };
    const older = this.persisted.measured.filter((m) => m.variantId !== variantId);
    await this.persist({ ...this.persisted, measured: [measurement, ...older].slice(0, MEASUREMENTS_KEPT) });
  }

  private async activate(model: DesiredModel, runtime: RuntimeSettings, scenario: Scenario, assignmentVersion: number): Promise<void> {
    const engine = this.candidate?.engine;
    if (engine == null) throw new StepFailure('load_failed', 'no smoke-tested candidate to activate');
    const now = this.deps.clock.now();
    const current = this.persisted.active;
    // The model we leave becomes the fallback slot; re-activating the same sha keeps the older fallback.
    const previous = current !== null && current.model.sha256 !== model.sha256 ? current : this.persisted.previous;
    this.crash('before-swap');
    const replaced = this.activeEngine;
    this.activeEngine = engine;
    this.candidate = null;
    this.deps.onRuntime(runtime);
    this.deps.onEngine(engine, model);
    this.crash('after-swap-before-persist');
    const active: ActiveRecord = { model, runtime, activatedAt: new Date(now).toISOString() };
    await this.persist({
      ...this.persisted,
      active,
      previous,
      probation: { assignmentVersion, sha256: model.sha256, scenario, uncleanRuns: 1 },
    });
    this.crash('after-persist-before-report');
    // Released only after its in-flight run has finished (InferenceEngine.dispose contract).
    await replaced?.dispose();
    this.deps.logger.info('model activated', {
      sha256: model.sha256,
      variantId: model.variantId,
      previous: previous?.model.sha256 ?? null,
    });
    await this.pruneArtifacts();
    this.deps.onProbation?.(model, scenario, now, runtime.health);
  }

  /** Back to the previous slot (no download): its file is re-hashed, loaded and swapped in. */
  private async rollback(): Promise<void> {
    const reason = this.rollbackReason;
    this.rollbackReason = null;
    const { active: bad, previous, probation } = this.persisted;
    if (reason === null || bad === null) return;
    const version = probation?.assignmentVersion ?? this.persisted.watermark ?? 0;
    if (previous === null) {
      this.deps.logger.error('watchdog wants a rollback but there is no previous model', { reason });
      await this.persist({ ...this.persisted, probation: null });
      return;
    }
    const path = this.deps.downloader.modelPath(previous.model.sha256);
    if ((await sha256File(path).catch(() => null)) !== previous.model.sha256) {
      throw new StepFailure('watchdog_failed', `${reason} (rollback impossible: the previous model file is missing or damaged)`);
    }
    const engine = await this.loadEngine(path, previous.model, previous.runtime.intraOpThreads);
    const replaced = this.activeEngine;
    this.activeEngine = engine;
    this.deps.onRuntime(previous.runtime);
    this.deps.onEngine(engine, previous.model);
    this.failed = { assignmentVersion: version, sha256: bad.model.sha256 };
    const lastUpdate: UpdateOutcome = {
      assignmentVersion: version,
      outcome: 'failed',
      reasonCode: 'watchdog_failed',
      message: reason.slice(0, 2000),
      at: new Date(this.deps.clock.now()).toISOString(),
    };
    await this.persist({ ...this.persisted, active: previous, previous: null, probation: null, rejected: this.failed, lastUpdate });
    await replaced?.dispose();
    this.deps.logger.error('rolled back to the previous model', { from: bad.model.sha256, to: previous.model.sha256, reason });
    await this.pruneArtifacts();
    this.deps.onChange();
  }

  /** Only the active and the previous model stay on disk. */
  private async pruneArtifacts(): Promise<void> {
    const keep = new Set<string>();
    for (const r of [this.persisted.active, this.persisted.previous]) if (r !== null) keep.add(r.model.sha256);
    for (const sha of await this.deps.downloader.prune(keep)) this.verified.delete(sha);
  }

  private async unload(): Promise<void> {
    const previous = this.activeEngine;
    this.activeEngine = null;
    this.deps.onEngine(null, null);
    await this.persist({ ...this.persisted, active: null, probation: null });
    await previous?.dispose();
  }

  private async commit(assignmentVersion: number): Promise<void> {
    const at = new Date(this.deps.clock.now()).toISOString();
    const watermark = Math.max(assignmentVersion, this.persisted.watermark ?? 0);
    this.failed = null;
    await this.persist({ ...this.persisted, watermark, rejected: null, lastUpdate: { assignmentVersion, outcome: 'ok', at } });
    this.deps.onChange();
  }

  private async discardCandidate(): Promise<void> {
    const engine = this.candidate?.engine ?? null;
    this.candidate = null;
    await engine?.dispose();
  }

  private async recordFailure(version: number, sha: string | null, code: FailureCode, message: string): Promise<void> {
    this.deps.logger.error('update failed', { assignmentVersion: version, sha256: sha, reasonCode: code, message });
    await this.discardCandidate();
    this.failed = { assignmentVersion: version, sha256: sha };
    const at = new Date(this.deps.clock.now()).toISOString();
    const lastUpdate: UpdateOutcome = {
      assignmentVersion: version,
      outcome: 'failed',
      reasonCode: code,
      message: message.slice(0, 2000),
      at,
    };
    await this.persist({ ...this.persisted, lastUpdate });
    this.deps.onChange();
  }

  private crash(point: CrashPoint): void {
    this.deps.crashPoint?.(point);
  }

  private activeRecord(): ActiveRecord {
    const a = this.persisted.active;
    if (a === null) throw new Error('no active model');
    return a;
  }

  /** Writes are serialised and each writes the latest state, so a late rename never lands an older one. */
  private async persist(next: PersistedState): Promise<void> {
    this.persisted = next;
    const write = this.writes.then(() => this.deps.store.save(this.persisted));
    this.writes = write.catch(() => undefined);
    await write;
  }

  /** Releases every engine (shutdown). */
  async close(): Promise<void> {
    const probation = this.persisted.probation;
    // a clean stop is not a crash: the model on probation starts its count again
    if (probation !== null && probation.uncleanRuns > 0)
      await this.persist({ ...this.persisted, probation: { ...probation, uncleanRuns: 0 } });
    await this.discardCandidate();
    const engine = this.activeEngine;
    this.activeEngine = null;
    await engine?.dispose();
  }
}

function refOf(model: DesiredModel): { url: string; sha256: string; sizeBytes: number } {
  return { url: model.artifactUrl, sha256: model.sha256, sizeBytes: model.sizeBytes };
}
