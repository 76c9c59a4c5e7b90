import { Worker } from 'node:worker_threads';
import type { InputSpec } from '@edge-fleet/shared';
import type { EngineOptions, InferenceEngine, RunResult } from './inference.engine.js';
import { INLINE_BUDGET, type InlineBudget, InlineWatch, placementBasis, runsInline } from './inline-placement.js';
import type { TensorValue } from './input.generator.js';
import type { InferResult, ModelSignature, ServedTensor } from './served-tensor.js';
import type { SessionRunner } from './session-runner.js';
import { asInferResult, asRunResult } from './worker.checks.js';
import { type FromWorker, FromWorkerSchema, type InferResultMessage, type RunResultMessage, type ToWorker } from './worker.protocol.js';

type Pending = { resolve: (msg: FromWorker) => void };
type Loaded = Extract<FromWorker, { type: 'loaded' }>;

/** Where the loaded model runs: on the agent's main thread, or in the inference worker. */
export type Placement = 'inline' | 'worker';

/**
 * The worker's JS is a thin loop around session.run (tensor data lives outside the V8 heap), so a
 * small young generation is plenty; V8's default lets it grow to 16 MB under a steady run rate
 * (measured: 118 → 115 MB RSS over 8,000 runs of a worker-placed model).
 */
const WORKER_LIMITS = { maxYoungGenerationSizeMb: 2 };

/**
 * A worker thread that ends unexpectedly (a fatal error in the thread, its heap limit) is started
 * again after `backoffMs × 2^k`, at most `max` times in `windowMs`; past that the engine stays down
 * (every run an error) until the next activation loads a model again, and the telemetry and the
 * watchdog see it. A model whose crash is its own soon exhausts the budget.
 */
export interface RestartBudget {
  max: number;
  windowMs: number;
  backoffMs: number;
}

export const RESTART_BUDGET: RestartBudget = { max: 3, windowMs: 60_000, backoffMs: 250 };

/** The compiled worker; under vitest this module runs from src, so point at the build output. */
export function defaultWorkerUrl(): URL {
  const here = import.meta.url;
  return here.endsWith('.ts') ? new URL('../../dist/engine/inference.worker.js', here) : new URL('./inference.worker.js', here);
}

/**
 * Runs one onnxruntime-node session. Every model is loaded and timed in a worker thread first; one
 * whose runs measured within INLINE_BUDGET is then served inline on the main thread (no thread hop,
 * no second isolate), any other stays in the worker so it cannot block the main loop. An inline model
 * whose runs turn slow later (InlineWatch) moves back to a worker, recurrent state and all.
 */
export class WorkerInferenceEngine implements InferenceEngine {
  private model: { path: string; inputs: InputSpec[] } | null = null;
  private worker: Worker | null = null;
  /** The session when the model runs inline; no worker runs then. */
  private inline: SessionRunner | null = null;
  /** Null once a move back to a worker failed: the model then stays inline. */
  private watch: InlineWatch | null = null;
  /** Set by the watch: the inline model moves to a worker after the run in flight. */
  private leaving = false;
  /** Inline runs are chained like the worker's queue: recurrent state is fed back before the next run. */
  private inlineTail: Promise<unknown> = Promise.resolve();
  private readonly runs = new Map<number, Pending>();
  /** Local inference API requests in the worker. */
  private readonly infers = new Map<number, (msg: InferResultMessage) => void>();
  private declared: ModelSignature | null = null;
  private control: Pending | null = null;
  private nextId = 0;
  private dead: string | null = null;
  private disposing = false;
  /** Why the worker is being started again after it died; runs fail with it meanwhile. */
  private down: string | null = null;
  /** When the worker died unexpectedly, within the restart budget's window. */
  private crashes: number[] = [];
  private restartTimer: NodeJS.Timeout | null = null;
  private restarting: Promise<void> | null = null;

  constructor(
    private readonly options: EngineOptions,
    private readonly workerUrl: URL = defaultWorkerUrl(),
    private readonly budget: InlineBudget = INLINE_BUDGET,
    private readonly restartBudget: RestartBudget = RESTART_BUDGET,
  ) {}

  async load(path: string, inputs: readonly InputSpec[]): Promise<void> {
    if (this.model !== null) throw new Error('engine already loaded');
    this.model = { path, inputs: [...inputs] };
    let loaded: Loaded;
    try {
      loaded = await this.startWorker();
    } catch (err) {
      this.dead ??= 'engine disposed';
      throw err;
    }
    this.declared = loaded.signature ?? null;
    this.basis = placementBasis(loaded.calibration, this.budget);
    if (runsInline(loaded.calibration, this.budget)) await this.moveInline();
    if (this.inline === null && this.basis.startsWith('inline')) this.basis = `worker: it did not load on the main thread (${this.basis})`;
  }

  private basis: string | null = null;

  /** Where the model was placed at load and the figures that decided it. */
  placementBasis(): string | null {
    return this.basis;
  }

  /** The loaded model's inputs and outputs as its session declares them. */
  signature(): ModelSignature | null {
    return this.declared;
  }

  /** One run on an application's inputs, wherever the model runs now; never rejects. */
  infer(inputs: Record<string, ServedTensor>): Promise<InferResult> {
    const refused = this.refusal();
    if (refused !== null) return Promise.resolve({ ok: false, latencyMs: null, error: refused });
    return this.onMainOrWorker(
      async (runner) => {
        const result = await runner.infer(inputs);
        if (this.watch?.note(result.latencyMs) === true) this.leaving = true;
        return result;
      },
      () => this.inferInWorker(inputs),
    );
  }

  /** Why a run cannot start now, or null. */
  private refusal(): string | null {
    if (this.dead !== null) return this.dead;
    if (this.down !== null) return `inference worker restarting after: ${this.down}`;
    if (this.disposing || (this.worker === null && this.inline === null)) return 'engine not running';
    return null;
  }

  /** Times the worker died and was started again (within the budget's window or not). */
  get restarts(): number {
    return this.restartCount;
  }
  private restartCount = 0;

  /** Where the model runs now; null before load and after dispose or a crash. */
  get placement(): Placement | null {
    if (this.dead !== null || this.down !== null) return null;
    if (this.inline !== null) return 'inline';
    return this.worker === null ? null : 'worker';
  }

  run(options: { capture?: boolean } = {}): Promise<RunResult> {
    const refused = this.refusal();
    if (refused !== null) return Promise.resolve({ ok: false, latencyMs: null, error: refused });
    const capture = options.capture ?? false;
    return this.inline !== null ? this.runInline(capture) : this.runInWorker(capture);
  }

  /** Waits for in-flight runs, releases the session, ends the thread. Idempotent. */
  async dispose(): Promise<void> {
    if (this.disposing) return;
    this.disposing = true;
    if (this.restartTimer !== null) clearTimeout(this.restartTimer);
    this.restartTimer = null;
    await this.restarting;
    // in-flight inline runs, and a move to a worker under way
    await this.inlineTail;
    const inline = this.inline;
    if (inline !== null) {
      this.inline = null;
      this.dead ??= 'engine disposed';
      await inline.release();
      return;
    }
    while ((this.runs.size > 0 || this.infers.size > 0) && this.dead === null) await new Promise((r) => setTimeout(r, 5));
    if (this.worker !== null && this.dead === null) await this.request({ type: 'dispose' });
    await this.terminate();
  }

  /** Starts a worker and loads the model there; throws, with the worker ended, when it does not load. */
  private async startWorker(handover?: Record<string, TensorValue>): Promise<Loaded> {
    const model = this.model;
    if (model === null) throw new Error('no model to load');
    const worker = new Worker(this.workerUrl, { resourceLimits: WORKER_LIMITS });
    this.worker = worker;
    worker.on('message', (raw: unknown) => this.onMessage(raw));
    worker.on('error', (err) => this.workerDied(worker, `inference worker crashed: ${err.message}`));
    worker.on('exit', (code) => this.workerDied(worker, `inference worker exited with code ${code}`));
    const { path, inputs } = model;
    const { intraOpThreads, seed } = this.options;
    const reply = await this.request({ type: 'load', path, inputs, intraOpThreads, seed, ...(handover === undefined ? {} : { handover }) });
    if (reply.type === 'loaded') return reply;
    await this.endWorker();
    throw new Error(reply.type === 'load-error' ? reply.message : `unexpected reply ${reply.type}`);
  }

  /**
   * Loads the model again on this thread, then releases it in the worker and ends the worker. The
   * session is created synchronously, a stall of about the worker's measured load time (≤ INLINE_BUDGET.loadMs).
   * If it does not load here, the worker keeps serving it.
   */
  private async moveInline(): Promise<void> {
    const model = this.model;
    if (model === null) return;
    let runner: SessionRunner;
    try {
      // Only now: an agent whose models all run in the worker never loads onnxruntime on its main thread.
      const { SessionRunner } = await import('./session-runner.js');
      runner = await SessionRunner.load(model.path, model.inputs, this.options.intraOpThreads, this.options.seed);
    } catch {
      return;
    }
    await this.request({ type: 'dispose' });
    await this.endWorker();
    this.declared ??= runner.signature();
    this.inline = runner;
    this.watch = new InlineWatch(this.budget);
  }

  /**
   * The inline model got slow: a worker loads it and continues from its recurrent state (the random
   * inputs start again from the seed), then the session here is released. Runs wait meanwhile. If the
   * worker cannot load it, it stays inline.
   */
  private async moveToWorker(): Promise<void> {
    const runner = this.inline;
    this.leaving = false;
    if (runner === null) return;
    try {
      await this.startWorker(runner.heldState());
    } catch {
      this.watch = null;
      return;
    }
    this.inline = null;
    this.watch = null;
    await runner.release();
  }

  private runInline(capture: boolean): Promise<RunResult> {
    return this.onMainOrWorker(
      (runner) => this.watchedRun(runner, capture),
      () => this.runInWorker(capture),
    );
  }

  /** Chained behind the inline runs before it; one queued behind a move to the worker goes there. Never rejects. */
  private onMainOrWorker<T>(inline: (runner: SessionRunner) => Promise<T>, inWorker: () => Promise<T>): Promise<T> {
    const result = this.inlineTail.then(() => (this.inline !== null ? inline(this.inline) : inWorker()));
    this.inlineTail = result.then(() => (this.leaving ? this.moveToWorker() : undefined));
    return result;
  }

  private inferInWorker(inputs: Record<string, ServedTensor>): Promise<InferResult> {
    // A buffer already moved to the worker reads as empty here, and Node drops (silently) a message whose
    // transfer list holds one: refuse it, or the request would wait forever.
    const short = Object.entries(inputs).find(([, t]) => t.data.length !== t.dims.reduce((a, b) => a * b, 1));
    if (short !== undefined)
      return Promise.resolve({
        ok: false,
        latencyMs: null,
        error: `input ${short[0]}: its data does not fill its dims (a buffer already handed over?)`,
      });
    const id = this.nextId++;
    return new Promise<InferResult>((resolve) => {
      this.infers.set(id, (msg) => {
        const result: InferResult = { ok: msg.ok, latencyMs: msg.latencyMs };
        if (msg.outputs !== undefined) result.outputs = msg.outputs;
        if (msg.error !== undefined) result.error = msg.error;
        resolve(result);
      });
      // the decoded inputs belong to this request alone: moved to the worker, not copied (a 1×3×640×640 image is 4.9 MB)
      const buffers = new Set(Object.values(inputs).map((t) => t.data.buffer));
      this.post(
        { type: 'infer', id, inputs },
        [...buffers].filter((b): b is ArrayBuffer => b instanceof ArrayBuffer && b.byteLength > 0),
      );
    });
  }

  private async watchedRun(runner: SessionRunner, capture: boolean): Promise<RunResult> {
    const result = await runner.run(capture);
    if (this.watch?.note(result.latencyMs) === true) this.leaving = true;
    return result;
  }

  private runInWorker(capture: boolean): Promise<RunResult> {
    const id = this.nextId++;
    return new Promise<RunResult>((resolve) => {
      this.runs.set(id, {
        resolve: (msg) => resolve(msg.type === 'result' ? toResult(msg) : { ok: false, latencyMs: null, error: msg.type }),
      });
      this.post({ type: 'run', id, capture });
    });
  }

  /** Ends the worker without marking the engine dead (its exit is expected). */
  private async endWorker(): Promise<void> {
    const worker = this.worker;
    this.worker = null;
    worker?.removeAllListeners();
    await worker?.terminate();
  }

  private request(msg: ToWorker): Promise<FromWorker> {
    return new Promise((resolve) => {
      this.control = { resolve };
      this.post(msg);
    });
  }

  private post(msg: ToWorker, transfer: ArrayBuffer[] = []): void {
    this.worker?.postMessage(msg, transfer);
  }

  private onMessage(raw: unknown): void {
    // Plain run results, one per run, get the cheap hand check; the rest the full schema.
    const inferred = asInferResult(raw);
    if (inferred !== null) {
      const pending = this.infers.get(inferred.id);
      this.infers.delete(inferred.id);
      pending?.(inferred);
      return;
    }
    const msg = asRunResult(raw) ?? parseFromWorker(raw);
    if (msg === null) return;
    if (msg.type === 'result') {
      const pending = this.runs.get(msg.id);
      this.runs.delete(msg.id);
      pending?.resolve(msg);
      return;
    }
    const control = this.control;
    this.control = null;
    control?.resolve(msg);
  }

  /**
   * The worker ended without being asked: its runs fail with the reason; a load or dispose waiting
   * on it is answered; a serving worker is started again within the restart budget.
   */
  private workerDied(worker: Worker, reason: string): void {
    if (this.dead !== null || worker !== this.worker) return;
    this.worker = null;
    worker.removeAllListeners();
    worker.on('error', () => undefined); // it is gone; nothing it says now matters
    const control = this.control;
    if (control !== null || this.disposing || this.model === null) {
      // a load (first, restart, or a move from inline) or a dispose is waiting on this worker: it decides
      if (control === null || this.disposing) {
        this.fail(reason);
        return;
      }
      this.failPending(reason);
      this.control = null;
      control.resolve({ type: 'load-error', message: reason });
      return;
    }
    this.failPending(reason);
    const now = Date.now();
    this.crashes = this.crashes.filter((t) => now - t < this.restartBudget.windowMs);
    if (this.crashes.length >= this.restartBudget.max) {
      this.fail(
        `${reason}; the worker was started again ${this.crashes.length} time(s) in the last ${this.restartBudget.windowMs / 1000} s, not again`,
      );
      return;
    }
    const delay = this.restartBudget.backoffMs * 2 ** this.crashes.length;
    this.crashes.push(now);
    this.down = reason;
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      this.restarting = this.startWorker()
        .then(() => {
          this.restartCount++;
          this.down = null;
        })
        .catch((err: unknown) => this.fail(`${reason}; starting it again failed: ${err instanceof Error ? err.message : String(err)}`))
        .finally(() => {
          this.restarting = null;
        });
    }, delay);
  }

  private failPending(reason: string): void {
    for (const p of this.runs.values()) p.resolve({ type: 'result', id: -1, ok: false, latencyMs: null, error: reason });
    this.runs.clear();
    for (const p of this.infers.values()) p({ type: 'inferred', id: -1, ok: false, latencyMs: null, error: reason });
    this.infers.clear();
  }

  private fail(reason: string): void {
    if (this.dead !== null) return;
    this.dead = reason;
    this.down = null;
    for (const p of this.runs.values()) p.resolve({ type: 'result', id: -1, ok: false, latencyMs: null, error: reason });
    this.runs.clear();
    for (const p of this.infers.values()) p({ type: 'inferred', id: -1, ok: false, latencyMs: null, error: reason });
    this.infers.clear();
    this.control?.resolve({ type: 'load-error', message: reason });
    this.control = null;
  }

  private async terminate(): Promise<void> {
    const worker = this.worker;
    this.worker = null;
    this.dead ??= 'engine disposed';
    if (worker !== null) await worker.terminate();
  }
}

function parseFromWorker(raw: unknown): FromWorker | null {
  const parsed = FromWorkerSchema.safeParse(raw);
  return parsed.success ? parsed.data : null;
}

function toResult(msg: RunResultMessage): RunResult {
  const result: RunResult = { ok: msg.ok, latencyMs: msg.latencyMs };
  if (msg.error !== undefined) result.error = msg.error;
  if (msg.capture !== undefined) result.capture = msg.capture;
  return result;
}

export function createWorkerEngine(options: EngineOptions): WorkerInferenceEngine {
  return new WorkerInferenceEngine(options);
}
