import type { DesiredModel, RuntimeSettings, UpdateOutcome } from '@edge-fleet/shared';
import { ArtifactError, type ArtifactDownloader, sha256File } from '../artifact/artifact.downloader.js';
import type { Clock } from '../core/clock.js';
import { errorMessage, type Logger } from '../core/logger.js';
import type { EngineFactory, InferenceEngine } from '../engine/inference.engine.js';
import type { AgentStateStore, PersistedState } from '../storage/agent-state.store.js';
import type { CurrentState, Step } from './reconcile.planner.js';

export type FailureCode = NonNullable<UpdateOutcome['reasonCode']>;

export class StepFailure extends Error {
  constructor(
    readonly reasonCode: FailureCode,
    message: string,
  ) {
    super(message);
    this.name = 'StepFailure';
  }
}

export interface ExecutorDeps {
  downloader: ArtifactDownloader;
  createEngine: EngineFactory;
  store: AgentStateStore;
  clock: Clock;
  logger: Logger;
  seed: number;
  /** The active engine changed (null: nothing runs). */
  onEngine: (engine: InferenceEngine | null, model: DesiredModel | null) => void;
  onRuntime: (runtime: RuntimeSettings) => void;
  /** Throws an ArtifactError('signature_invalid') unless the model's signed manifest checks out. */
  verifyManifest: (model: DesiredModel) => void;
  /** Something a reported state shows changed (outcome, watermark, active). */
  onChange: () => void;
}

/** Executes planner steps and owns what they change: engines, files and persisted state. */
export class StepExecutor {
  private persisted: PersistedState;
  private activeEngine: InferenceEngine | null = null;
  private candidate: { engine: InferenceEngine | null; state: NonNullable<CurrentState['candidate']> } | null = null;
  private failed: CurrentState['failed'] = null;
  private readonly verified = new Set<string>();

  constructor(
    private readonly deps: ExecutorDeps,
    initial: PersistedState,
  ) {
    this.persisted = initial;
  }

  snapshot(): CurrentState {
    const a = this.persisted.active;
    return {
      watermark: this.persisted.watermark,
      active: a === null || this.activeEngine === null ? null : { model: a.model, runtime: a.runtime },
      candidate: this.candidate === null ? null : { ...this.candidate.state },
      verifiedArtifacts: new Set(this.verified),
      failed: this.failed,
    };
  }

  get state(): PersistedState {
    return this.persisted;
  }

  /** Reloads the persisted active model (re-checking its hash) so a restart needs no download. */
  async restore(): Promise<void> {
    const active = this.persisted.active;
    // Temp files are leftovers of an interrupted download; verified models other than the active one go too.
    await this.deps.downloader.prune(new Set(active === null ? [] : [active.model.sha256]));
    for (const sha of await this.deps.downloader.listVerified()) this.verified.add(sha);
    if (active === null) return;
    try {
      const path = this.deps.downloader.modelPath(active.model.sha256);
      if ((await sha256File(path)) !== active.model.sha256) throw new Error('stored model no longer matches its sha256');
      const engine = await this.loadEngine(path, active.model, active.runtime.intraOpThreads);
      this.activeEngine = engine;
      this.deps.onRuntime(active.runtime);
      this.deps.onEngine(engine, active.model);
      this.deps.logger.info('restored active model', { sha256: active.model.sha256 });
    } catch (err) {
      this.deps.logger.error('could not restore the active model', { error: errorMessage(err) });
      this.verified.delete(active.model.sha256);
      await this.persist({ ...this.persisted, active: null });
    }
  }

  clearFailure(): void {
    this.failed = null;
  }

  async execute(step: Step, assignmentVersion: number): Promise<void> {
    try {
      await this.run(step);
    } catch (err) {
      const sha = 'model' in step ? step.model.sha256 : null;
      const code = err instanceof StepFailure || err instanceof ArtifactError ? err.reasonCode : 'load_failed';
      await this.recordFailure(assignmentVersion, sha, code, errorMessage(err));
    }
  }

  private async run(step: Step): Promise<void> {
    switch (step.kind) {
      case 'discard-candidate':
        return this.discardCandidate();
      case 'download':
        // the signature chain is checked before a byte is fetched, and so before any parse
        this.deps.verifyManifest(step.model);
        await this.deps.downloader.download(refOf(step.model));
        this.candidate = { engine: null, state: { sha256: step.model.sha256, intraOpThreads: null, stage: 'downloaded' } };
        return;
      case 'verify':
        await this.deps.downloader.verify(refOf(step.model));
        this.verified.add(step.model.sha256);
        if (this.candidate !== null) this.candidate.state.stage = 'verified';
        return;
      case 'load':
        return this.loadCandidate(step.model, step.intraOpThreads);
      case 'smoke':
        return this.smoke();
      case 'activate':
        return this.activate(step.model, step.runtime);
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
    const engine = await this.loadEngine(this.deps.downloader.modelPath(model.sha256), model, intraOpThreads);
    this.candidate = { engine, state: { sha256: model.sha256, intraOpThreads, stage: 'loaded' } };
  }

  private async loadEngine(path: string, model: DesiredModel, intraOpThreads: number): Promise<InferenceEngine> {
    const engine = this.deps.createEngine({ intraOpThreads, seed: this.deps.seed });
    try {
      await engine.load(path, model.inputs);
      return engine;
    } catch (err) {
      await engine.dispose();
      throw new StepFailure('load_failed', `model ${model.sha256} failed to load: ${errorMessage(err)}`);
    }
  }

  /** One inference with finite outputs before the candidate may replace the active model. */
  private async smoke(): Promise<void> {
    const c = this.candidate;
    if (c?.engine == null) throw new StepFailure('smoke_failed', 'no candidate loaded');
    const result = await c.engine.run();
    if (!result.ok) throw new StepFailure('smoke_failed', `smoke run failed: ${result.error ?? 'unknown error'}`);
    c.state.stage = 'smoked';
    this.deps.logger.info('smoke run passed', { sha256: c.state.sha256, latencyMs: result.latencyMs });
  }

  private async activate(model: DesiredModel, runtime: RuntimeSettings): Promise<void> {
    const engine = this.candidate?.engine;
    if (engine == null) throw new StepFailure('load_failed', 'no smoke-tested candidate to activate');
    const activatedAt = new Date(this.deps.clock.now()).toISOString();
    const keep = new Set([model.sha256]);
    if (this.persisted.active !== null) keep.add(this.persisted.active.model.sha256);
    await this.persist({ ...this.persisted, active: { model, runtime, activatedAt } });
    const previous = this.activeEngine;
    this.activeEngine = engine;
    this.candidate = null;
    this.deps.onRuntime(runtime);
    this.deps.onEngine(engine, model);
    // Released only after its in-flight run has finished (InferenceEngine.dispose contract).
    await previous?.dispose();
    this.deps.logger.info('model activated', { sha256: model.sha256, variantId: model.variantId });
    for (const sha of await this.deps.downloader.prune(keep)) this.verified.delete(sha);
  }

  private async unload(): Promise<void> {
    const previous = this.activeEngine;
    this.activeEngine = null;
    this.deps.onEngine(null, null);
    await this.persist({ ...this.persisted, active: null });
    await previous?.dispose();
  }

  private async commit(assignmentVersion: number): Promise<void> {
    const at = new Date(this.deps.clock.now()).toISOString();
    const watermark = Math.max(assignmentVersion, this.persisted.watermark ?? 0);
    this.failed = null;
    await this.persist({ ...this.persisted, watermark, lastUpdate: { assignmentVersion, outcome: 'ok', at } });
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
    const lastUpdate: UpdateOutcome = { assignmentVersion: version, outcome: 'failed', reasonCode: code, message: message.slice(0, 2000), at };
    await this.persist({ ...this.persisted, lastUpdate });
    this.deps.onChange();
  }

  private activeRecord(): NonNullable<PersistedState['active']> {
    const a = this.persisted.active;
    if (a === null) throw new Error('no active model');
    return a;
  }

  private async persist(next: PersistedState): Promise<void> {
    this.persisted = next;
    await this.deps.store.save(next);
  }

  /** Releases every engine (shutdown). */
  async close(): Promise<void> {
    await this.discardCandidate();
    const engine = this.activeEngine;
    this.activeEngine = null;
    await engine?.dispose();
  }
}

function refOf(model: DesiredModel): { url: string; sha256: string; sizeBytes: number } {
  return { url: model.artifactUrl, sha256: model.sha256, sizeBytes: model.sizeBytes };
}
