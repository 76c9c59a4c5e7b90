import { Worker } from 'node:worker_threads';
import type { InputSpec } from '@edge-fleet/shared';
import type { EngineOptions, InferenceEngine, RunResult } from './inference.engine.js';
import { type FromWorker, FromWorkerSchema, type ToWorker } from './worker.protocol.js';

type Pending = { resolve: (msg: FromWorker) => void };

/** The compiled worker; under vitest this module runs from src, so point at the build output. */
export function defaultWorkerUrl(): URL {
  const here = import.meta.url;
  return here.endsWith('.ts')
    ? new URL('../../dist/engine/inference.worker.js', here)
    : new URL('./inference.worker.js', here);
}

/** Runs one onnxruntime-node session in its own worker thread. */
export class WorkerInferenceEngine implements InferenceEngine {
  private worker: Worker | null = null;
  private readonly runs = new Map<number, Pending>();
  private control: Pending | null = null;
  private nextId = 0;
  private dead: string | null = null;
  private disposing = false;

  constructor(
    private readonly options: EngineOptions,
    private readonly workerUrl: URL = defaultWorkerUrl(),
  ) {}

  async load(path: string, inputs: readonly InputSpec[]): Promise<void> {
    if (this.worker !== null) throw new Error('engine already loaded');
    const worker = new Worker(this.workerUrl);
    this.worker = worker;
    worker.on('message', (raw: unknown) => this.onMessage(raw));
    worker.on('error', (err) => this.fail(`inference worker crashed: ${err.message}`));
    worker.on('exit', (code) => this.fail(`inference worker exited with code ${code}`));
    const reply = await this.request({
      type: 'load',
      path,
      inputs: [...inputs],
      intraOpThreads: this.options.intraOpThreads,
      seed: this.options.seed,
    });
    if (reply.type !== 'loaded') {
      await this.terminate();
      throw new Error(reply.type === 'load-error' ? reply.message : `unexpected reply ${reply.type}`);
    }
  }

  run(options: { capture?: boolean } = {}): Promise<RunResult> {
    const worker = this.worker;
    if (worker === null || this.dead !== null || this.disposing) {
      return Promise.resolve({ ok: false, latencyMs: null, error: this.dead ?? 'engine not running' });
    }
    const id = this.nextId++;
    return new Promise<RunResult>((resolve) => {
      this.runs.set(id, {
        resolve: (msg) => resolve(msg.type === 'result' ? toResult(msg) : { ok: false, latencyMs: null, error: msg.type }),
      });
      this.post({ type: 'run', id, capture: options.capture ?? false });
    });
  }

  /** Waits for in-flight runs, releases the session, ends the thread. Idempotent. */
  async dispose(): Promise<void> {
    if (this.disposing) return;
    this.disposing = true;
    while (this.runs.size > 0 && this.dead === null) await new Promise((r) => setTimeout(r, 5));
    if (this.worker !== null && this.dead === null) await this.request({ type: 'dispose' });
    await this.terminate();
  }

  private request(msg: ToWorker): Promise<FromWorker> {
    return new Promise((resolve) => {
      this.control = { resolve };
      this.post(msg);
    });
  }

  private post(msg: ToWorker): void {
    this.worker?.postMessage(msg);
  }

  private onMessage(raw: unknown): void {
    const parsed = FromWorkerSchema.safeParse(raw);
    if (!parsed.success) return;
    const msg = parsed.data;
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

  private fail(reason: string): void {
    if (this.dead !== null) return;
    this.dead = reason;
    for (const p of this.runs.values()) p.resolve({ type: 'result', id: -1, ok: false, latencyMs: null, error: reason });
    this.runs.clear();
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

function toResult(msg: Extract<FromWorker, { type: 'result' }>): RunResult {
  const result: RunResult = { ok: msg.ok, latencyMs: msg.latencyMs };
  if (msg.error !== undefined) result.error = msg.error;
  if (msg.capture !== undefined) result.capture = msg.capture;
  return result;
}

export function createWorkerEngine(options: EngineOptions): InferenceEngine {
  return new WorkerInferenceEngine(options);
}
