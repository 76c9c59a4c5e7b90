/** onnxruntime-node sessions and runs, converted to plain arrays for comparison. */
import { InferenceSession, Tensor } from 'onnxruntime-node';
import type { InputSpec } from '@edge-fleet/shared/schemas';
import type { Sample } from '../calibration/input-data.js';
import type { RunOutputs } from './agreement.js';

/** Session settings used for every measurement. */
export interface SessionSettings {
  /** Intra-op threads; 1 by default so figures compare across machines and variants. */
  intraOpThreads: number;
  /** Where to write onnxruntime's optimized graph (for inspecting fusions); off by default. */
  optimizedModelFilePath?: string;
}

/** Creates a CPU session from model bytes. */
export function createSession(bytes: Uint8Array, settings: SessionSettings): Promise<InferenceSession> {
  return InferenceSession.create(bytes, {
    executionProviders: ['cpu'],
    intraOpNumThreads: settings.intraOpThreads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
    ...(settings.optimizedModelFilePath ? { optimizedModelFilePath: settings.optimizedModelFilePath } : {}),
  });
}

/** The feeds of one sample, shaped by the specs. */
export function toFeeds(sample: Sample, specs: readonly InputSpec[]): Record<string, Tensor> {
  const feeds: Record<string, Tensor> = {};
  for (const spec of specs) {
    const data = sample[spec.name];
    if (!data) throw new Error(`sample has no value for input ${spec.name}`);
    feeds[spec.name] = new Tensor(spec.dtype, data, spec.shape);
  }
  return feeds;
}

function toFloat64(t: Tensor): Float64Array {
  const data = t.data;
  if (typeof data === 'string' || (Array.isArray(data) && typeof data[0] === 'string')) {
    throw new Error(`output of type ${t.type} cannot be compared numerically`);
  }
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) return Float64Array.from(data, (v) => Number(v));
  return Float64Array.from(data as ArrayLike<number>);
}

/** Runs one sample and returns every output as float64. */
export async function runOnce(session: InferenceSession, feeds: Record<string, Tensor>): Promise<RunOutputs> {
  const result = await session.run(feeds);
  const out: RunOutputs = {};
  for (const name of session.outputNames) {
    const t = result[name];
    if (t) out[name] = { dims: [...t.dims], data: toFloat64(t) };
  }
  return out;
}
