import { performance } from 'node:perf_hooks';
import type { InputSpec } from '@edge-fleet/shared';
import * as ort from 'onnxruntime-node';
import type { RunResult } from './inference.engine.js';
import { calibrationVerdict, type Calibration } from './inline-placement.js';
import { FeedGenerator, type TensorValue } from './input.generator.js';
import { feedsFor, finiteOutput, fromOrt, sessionOptions } from './ort-session.js';
import { type InferResult, isServedType, type ModelSignature, type ServedTensor, type TensorSignature } from './served-tensor.js';

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

let warming: Promise<void> | null = null;

/**
 * One loaded session and its seeded feeds; runs one inference at a time. The same code serves a model
 * in the inference worker and inline on the agent's main thread, so both report runs alike.
 */
export class SessionRunner {
  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly specs: readonly InputSpec[],
    private readonly seed: number,
    private readonly feeds: FeedGenerator,
    /** Wall time of InferenceSession.create. */
    readonly loadMs: number,
  ) {}

  /**
   * Creates (once per thread) and releases a session of a tiny model, so that the runtime's own
   * first-use set-up (its environment, thread pools, allocators: ~200 ms on a busy 2-core machine,
   * 3–8 ms for every later model) is not timed as the model's load, which decides placement.
   */
  static warmRuntime(): Promise<void> {
    warming ??= (async () => {
      const { buildMlpClassifier } = await import('@edge-fleet/onnx-builder');
      const tiny = buildMlpClassifier({ seed: 0, inputSize: 1, hidden: 1, classes: 2, batch: 1 });
      const session = await ort.InferenceSession.create(tiny.bytes, sessionOptions(1));
      await session.release();
    })().catch(() => undefined);
    return warming;
  }

  /** `handover`: recurrent state to continue from (the model moved here from another thread). */
  static async load(
    path: string,
    specs: readonly InputSpec[],
    intraOpThreads: number,
    seed: number,
    handover?: Record<string, TensorValue>,
  ): Promise<SessionRunner> {
    const started = performance.now();
    const session = await ort.InferenceSession.create(path, sessionOptions(intraOpThreads));
    const feeds = new FeedGenerator(specs, seed);
    if (handover !== undefined) feeds.resume(handover);
    return new SessionRunner(session, specs, seed, feeds, performance.now() - started);
  }

  get inputNames(): string[] {
    return [...this.session.inputNames];
  }

  get outputNames(): string[] {
    return [...this.session.outputNames];
  }

  /** Inputs and outputs as the model declares them; a symbolic (dynamic) dimension is -1. */
  signature(): ModelSignature {
    return { inputs: this.session.inputMetadata.map(describe), outputs: this.session.outputMetadata.map(describe) };
  }

  /** One run on an application's inputs (the local inference API): no generated feeds, no recurrent state kept here. */
  async infer(inputs: Record<string, ServedTensor>): Promise<InferResult> {
    try {
      const feeds: Record<string, ort.Tensor> = {};
      for (const [name, t] of Object.entries(inputs)) feeds[name] = new ort.Tensor(t.type, t.data, t.dims);
      const started = performance.now();
      const out = await this.session.run(feeds);
      const latencyMs = performance.now() - started;
      const outputs: Record<string, ServedTensor> = {};
      for (const [name, tensor] of Object.entries(out)) {
        if (!isServedType(tensor.type))
          return { ok: false, latencyMs, error: `output ${name} has type ${tensor.type}, which the API cannot send` };
        // a NaN or an infinity is the model failing on this input (JSON would even turn it into null):
        // the application gets an error naming it, and the window counts it for the watchdog (row 4)
        if (!finiteOutput(tensor)) return { ok: false, latencyMs, error: `non-finite output ${name} (NaN or infinity)` };
        outputs[name] = { type: tensor.type, dims: [...tensor.dims], data: tensor.data as ServedTensor['data'] };
      }
      return { ok: true, latencyMs, outputs };
    } catch (err) {
      return { ok: false, latencyMs: null, error: message(err) };
    }
  }

  heldState(): Record<string, TensorValue> {
    return this.feeds.heldState();
  }

  run(capture = false): Promise<RunResult> {
    return runOnce(this.session, this.feeds, capture);
  }

  /**
   * Times runs until calibrationVerdict knows where the model belongs. On a generator of its own
   * (same seed), so the served sequence of inputs and recurrent state starts as if it had not run.
   */
  async calibrate(): Promise<Calibration> {
    const feeds = new FeedGenerator(this.specs, this.seed);
    const latenciesMs: number[] = [];
    while (calibrationVerdict(latenciesMs) === 'undecided') {
      const result = await runOnce(this.session, feeds, false);
      if (!result.ok || result.latencyMs === null) return { loadMs: this.loadMs, latenciesMs, failed: true };
      latenciesMs.push(result.latencyMs);
    }
    return { loadMs: this.loadMs, latenciesMs, failed: false };
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

function describe(m: ort.InferenceSession.ValueMetadata): TensorSignature {
  if (!m.isTensor) return { name: m.name, type: 'non-tensor', shape: [] };
  return { name: m.name, type: m.type, shape: m.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : -1)) };
}

/** One run: fresh feeds, session.run timed on its own, outputs checked, recurrent state fed back. */
async function runOnce(session: ort.InferenceSession, feeds: FeedGenerator, capture: boolean): Promise<RunResult> {
  try {
    const input = feeds.next();
    const ortFeeds = feedsFor(input);
    const started = performance.now();
    const out = await session.run(ortFeeds);
    const latencyMs = performance.now() - started;
    const outputs = new Map<string, TensorValue>();
    let finite = true;
    for (const [name, tensor] of Object.entries(out)) {
      finite &&= finiteOutput(tensor);
      const value = fromOrt(tensor);
      if (value !== null) outputs.set(name, value);
    }
    const missing = feeds.absorb(outputs);
    const error = !finite ? 'non-finite output' : missing.length > 0 ? `missing state output ${missing.join(', ')}` : undefined;
    const result: RunResult = { ok: error === undefined, latencyMs };
    if (error !== undefined) result.error = error;
    if (capture) result.capture = { inputs: Object.fromEntries(input), outputs: Object.fromEntries(outputs) };
    return result;
  } catch (err) {
    return { ok: false, latencyMs: null, error: message(err) };
  }
}
