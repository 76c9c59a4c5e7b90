/**
 * Tensors an application sends through the local inference API, as they cross to the session (inline
 * or in the inference worker). Kept apart from the workload's TensorValue: the API serves every
 * numeric ONNX type, the synthetic workload only the few the input specs allow. No zod here: the
 * worker imports this module and its isolate stays small.
 */
export type ServedType =
  'float32' | 'float16' | 'float64' | 'int8' | 'int16' | 'int32' | 'int64' | 'uint8' | 'uint16' | 'uint32' | 'uint64' | 'bool';

export type ServedData =
  | Float32Array
  | Float64Array
  | Int8Array
  | Int16Array
  | Int32Array
  | BigInt64Array
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | BigUint64Array;

export interface ServedTensor {
  type: ServedType;
  dims: number[];
  data: ServedData;
}

/** An input or output as the session declares it: onnxruntime's type name, `-1` for a dynamic dimension. */
export interface TensorSignature {
  name: string;
  type: string;
  shape: number[];
}

export interface ModelSignature {
  inputs: TensorSignature[];
  outputs: TensorSignature[];
}

export interface InferResult {
  ok: boolean;
  /** session.run alone, high-resolution; null when the run threw. */
  latencyMs: number | null;
  outputs?: Record<string, ServedTensor>;
  error?: string;
}

const SERVED_TYPES: ReadonlySet<string> = new Set<ServedType>([
  'float32',
  'float16',
  'float64',
  'int8',
  'int16',
  'int32',
  'int64',
  'uint8',
  'uint16',
  'uint32',
  'uint64',
  'bool',
]);

export function isServedType(type: string): type is ServedType {
  return SERVED_TYPES.has(type);
}

function isServedData(v: unknown): v is ServedData {
  return (
    v instanceof Float32Array ||
    v instanceof Float64Array ||
    v instanceof Int8Array ||
    v instanceof Int16Array ||
    v instanceof Int32Array ||
    v instanceof BigInt64Array ||
    v instanceof Uint8Array ||
    v instanceof Uint16Array ||
    v instanceof Uint32Array ||
    v instanceof BigUint64Array
  );
}

/** Hand check of a tensor map received from the other thread. */
export function isServedTensorMap(v: unknown): v is Record<string, ServedTensor> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  return Object.values(v).every((t: unknown) => {
    if (typeof t !== 'object' || t === null) return false;
    const { type, dims, data } = t as Partial<Record<keyof ServedTensor, unknown>>;
    return (
      typeof type === 'string' &&
      isServedType(type) &&
      Array.isArray(dims) &&
      dims.every((d) => Number.isSafeInteger(d) && (d as number) >= 0) &&
      isServedData(data)
    );
  });
}

function isTensorSignatureList(v: unknown): v is TensorSignature[] {
  return (
    Array.isArray(v) &&
    v.every((s: unknown) => {
      if (typeof s !== 'object' || s === null) return false;
      const { name, type, shape } = s as Partial<Record<keyof TensorSignature, unknown>>;
      return typeof name === 'string' && typeof type === 'string' && Array.isArray(shape) && shape.every((d) => Number.isSafeInteger(d));
    })
  );
}

export function isModelSignature(v: unknown): v is ModelSignature {
  if (typeof v !== 'object' || v === null) return false;
  const { inputs, outputs } = v as Partial<Record<keyof ModelSignature, unknown>>;
  return isTensorSignatureList(inputs) && isTensorSignatureList(outputs);
}
