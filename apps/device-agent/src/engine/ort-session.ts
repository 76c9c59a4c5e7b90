import type { TensorDtype } from '@edge-fleet/shared';
import * as ort from 'onnxruntime-node';
import type { TensorValue } from './input.generator.js';

/**
 * What the serving worker and the vetting child share, so a model is vetted exactly as it will be
 * served: the session options, the tensor conversions and the output check.
 */
export function sessionOptions(intraOpThreads: number): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: [SERVING_EXECUTION_PROVIDER],
    intraOpNumThreads: intraOpThreads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  };
}

/** Named explicitly (it is onnxruntime's default) so the provider a measurement reports is the one that ran. */
export const SERVING_EXECUTION_PROVIDER = 'cpu';

/** The execution providers this onnxruntime build can use here: those whose libraries ship with it. */
export function offeredExecutionProviders(): string[] {
  return ort
    .listSupportedBackends()
    .filter((b) => b.bundled)
    .map((b) => b.name);
}

export function toOrt(value: TensorValue): ort.Tensor {
  return new ort.Tensor(value.dtype, value.data, value.dims);
}

/**
 * The dtypes a TensorValue carries; `satisfies` keeps the list equal to TensorDtype at compile time.
 * Not TensorDtypeSchema: this module is loaded by the vetting child, which starts without zod.
 */
const DTYPES = { float32: true, int64: true, int32: true, bool: true, uint8: true, int8: true } satisfies Record<TensorDtype, true>;

function isDtype(type: string): type is TensorDtype {
  return Object.hasOwn(DTYPES, type);
}

export function fromOrt(tensor: ort.Tensor): TensorValue | null {
  const dtype = tensor.type;
  if (!isDtype(dtype)) return null;
  return { dtype, dims: [...tensor.dims], data: tensor.data as TensorValue['data'] };
}

export function finiteOutput(tensor: ort.Tensor): boolean {
  const data = tensor.data;
  if (data instanceof Float32Array || data instanceof Float64Array) return data.every(Number.isFinite);
  return true;
}

export function feedsFor(input: ReadonlyMap<string, TensorValue>): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const [name, value] of input) feeds[name] = toOrt(value);
  return feeds;
}
