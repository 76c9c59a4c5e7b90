/**
 * Activation ranges for static quantization: the FP32 model runs in onnxruntime on the
 * calibration inputs with the tensors of interest exposed as extra graph outputs.
 */
import type { InputSpec } from '@edge-fleet/shared/schemas';
import { cloneModel } from '../model/graph-tools.js';
import { encodeOnnxModel } from '../model/model-encoder.js';
import { DataType, tensorValueInfo, type OnnxModel } from '../model/onnx-model.js';
import { createSession, runOnce, toFeeds } from '../measure/session.js';
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

/** Min/max of every tensor in `names` over all samples (graph inputs are read from the samples). */
export async function calibrateRanges(
  model: OnnxModel,
  names: readonly string[],
  specs: readonly InputSpec[],
  samples: readonly Sample[],
  intraOpThreads: number,
): Promise<Map<string, TensorRange>> {
  const ranges = new Map<string, TensorRange>();
  const inputs = new Set(model.graph.inputs.map((i) => i.name));
  const augmented = cloneModel(model);
  const exposed = names.filter((n) => !inputs.has(n));
  for (const n of exposed) {
    if (!augmented.graph.outputs.some((o) => o.name === n)) augmented.graph.outputs.push(tensorValueInfo(n, DataType.FLOAT));
  }
  const session = await createSession(encodeOnnxModel(augmented), { intraOpThreads });
  try {
    for (const sample of samples) {
      for (const n of names.filter((x) => inputs.has(x))) {
        const data = sample[n];
        if (data instanceof Float32Array) widen(ranges, n, data);
      }
      const out = await runOnce(session, toFeeds(sample, specs));
      for (const n of exposed) {
        const v = out[n];
        if (v) widen(ranges, n, v.data);
      }
    }
  } finally {
    await session.release();
  }
  return ranges;
}
