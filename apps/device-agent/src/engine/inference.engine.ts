import type { InputSpec } from '@edge-fleet/shared';
import type { TensorValue } from './input.generator.js';
import type { InferResult, ModelSignature, ServedTensor } from './served-tensor.js';

export interface RunResult {
  ok: boolean;
  /** Measured around `session.run` with a high-resolution timer; null when the run threw. */
  latencyMs: number | null;
  error?: string;
  /** Inputs fed and outputs produced, only when asked for (tests, smoke diagnostics). */
  capture?: { inputs: Record<string, TensorValue>; outputs: Record<string, TensorValue> };
}

/**
 * One loaded model. Lifecycle: `load` once on activation, `run` many times (one at a time is
 * enough; calls are serialised), `dispose` waits for in-flight runs before releasing the session.
 */
export interface InferenceEngine {
  load(path: string, inputs: readonly InputSpec[]): Promise<void>;
  run(options?: { capture?: boolean }): Promise<RunResult>;
  dispose(): Promise<void>;
  /**
   * Local inference API: one run on an application's inputs; never rejects. Takes ownership of the inputs' buffers
   * (they may be moved to another thread). Engines without it cannot serve applications.
   */
  infer?(inputs: Record<string, ServedTensor>): Promise<InferResult>;
  /** The loaded model's declared inputs and outputs (null before load). */
  signature?(): ModelSignature | null;
  /** Where the model runs and the figures that decided it (null before load). */
  placementBasis?(): string | null;
  /** Where the model runs now (it may leave the main thread later); null before load and after dispose. */
  readonly placement?: 'inline' | 'worker' | null;
}

export interface EngineOptions {
  intraOpThreads: number;
  seed: number;
}

export type EngineFactory = (options: EngineOptions) => InferenceEngine;
