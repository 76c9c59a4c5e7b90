/**
 * Activation ranges for static quantization: the FP32 model runs in onnxruntime on the
 * calibration inputs with the tensors of interest exposed as extra graph outputs.
 */
import type { InputSpec } from '@edge-fleet/shared/schemas';
import { cloneModel } from '../model/graph-tools.js';
import { DataType, tensorValueInfo, type OnnxModel, encodeModel } from '@edge-fleet/onnx-codec';
import { createSession, runOnce, toFeeds } from '../measure/session.js';
import type { CalibrationMethod } from '../transforms/transform.js';
import type { Sample } from './input-data.js';

/** Observed range of one tensor. */
export interface TensorRange {
  min: number;
  max: number;
}

function widen(ranges: Map<string, TensorRange>, name: string, data: ArrayLike<number>): void {
  const r = ranges.get(name) ?? { min: Infinity, max: -Infinity };
  for (let i = 0; i < data.length; i += 1) {
    const v = data[i] ?? 0;
    if (v < r.min) r.min = v;
    if (v > r.max) r.max = v;
  }
  ranges.set(name, r);
}

/** Share of values clipped at each end by `percentile` (99.99 % kept within the range, as onnxruntime's tool defaults). */
const TAIL = 0.5e-4;
const BINS = 4096;

/** A histogram over the min/max range of the first pass. */
class Histogram {
  readonly counts = new Float64Array(BINS);
  total = 0;
  constructor(readonly range: TensorRange) {}

  add(data: ArrayLike<number>): void {
    const { min, max } = this.range;
    const width = (max - min) / BINS || 1;
    for (let i = 0; i < data.length; i += 1) {
      const bin = Math.min(BINS - 1, Math.max(0, Math.floor(((data[i] ?? 0) - min) / width)));
      this.counts[bin] = (this.counts[bin] ?? 0) + 1;
    }
    this.total += data.length;
  }

  /** The range without the TAIL share of values at each end; zero always stays inside. */
  clipped(): TensorRange {
    const { min, max } = this.range;
    const width = (max - min) / BINS;
    const limit = this.total * TAIL;
    let lo = 0;
    for (let seen = this.counts[0] ?? 0; seen <= limit && lo < BINS - 1; seen += this.counts[lo] ?? 0) lo += 1;
    let hi = BINS - 1;
    for (let seen = this.counts[hi] ?? 0; seen <= limit && hi > 0; seen += this.counts[hi] ?? 0) hi -= 1;
    return { min: Math.min(0, min + lo * width), max: Math.max(0, min + (hi + 1) * width) };
  }
}

/**
 * Ranges of every tensor in `names` over all samples (graph inputs are read from the samples):
 * min/max, or (`percentile`) a second pass clipping the 0.01 % outliers that would otherwise
 * stretch a per-tensor scale over values few activations reach.
 */
export async function calibrateRanges(
  model: OnnxModel,
  names: readonly string[],
  specs: readonly InputSpec[],
  samples: readonly Sample[],
  intraOpThreads: number,
  method: CalibrationMethod = 'minmax',
): Promise<Map<string, TensorRange>> {
  const ranges = new Map<string, TensorRange>();
  await observe(model, names, specs, samples, intraOpThreads, (name, data) => widen(ranges, name, data));
  if (method === 'minmax') return ranges;
  const histograms = new Map([...ranges].map(([name, r]) => [name, new Histogram(r)]));
  await observe(model, names, specs, samples, intraOpThreads, (name, data) => histograms.get(name)?.add(data));
  return new Map([...histograms].map(([name, h]) => [name, h.clipped()]));
}

/** Runs the model on every sample and hands each tensor of `names` to `see`. */
async function observe(
  model: OnnxModel,
  names: readonly string[],
  specs: readonly InputSpec[],
  samples: readonly Sample[],
  intraOpThreads: number,
  see: (name: string, data: ArrayLike<number>) => void,
): Promise<void> {
  const inputs = new Set(model.graph.inputs.map((i) => i.name));
  const augmented = cloneModel(model);
  const exposed = names.filter((n) => !inputs.has(n));
  for (const n of exposed) {
    if (!augmented.graph.outputs.some((o) => o.name === n)) augmented.graph.outputs.push(tensorValueInfo(n, DataType.FLOAT));
  }
  const session = await createSession(encodeModel(augmented), { intraOpThreads });
  try {
    for (const sample of samples) {
      for (const n of names.filter((x) => inputs.has(x))) {
        const data = sample[n];
        if (data instanceof Float32Array) see(n, data);
      }
      const out = await runOnce(session, toFeeds(sample, specs));
      for (const n of exposed) {
        const v = out[n];
        if (v) see(n, v.data);
      }
    }
  } finally {
    await session.release();
  }
}
