import type { TensorDtype } from '@edge-fleet/shared/schemas';

/** `TensorProto.DataType` codes of the element types we write (onnx/onnx.proto3). */
export const ELEM_TYPE: Readonly<Record<TensorDtype, number>> = {
  float32: 1,
  uint8: 2,
  int8: 3,
  int32: 6,
  int64: 7,
  bool: 9,
};

/** Bytes per element in `raw_data` for each element type. */
export const ELEM_SIZE: Readonly<Record<TensorDtype, number>> = {
  float32: 4,
  uint8: 1,
  int8: 1,
  int32: 4,
  int64: 8,
  bool: 1,
};

/** Maps a `TensorProto.DataType` code back to our dtype name, if we know it. */
export function dtypeFromElemType(code: number): TensorDtype | undefined {
  const entry = Object.entries(ELEM_TYPE).find(([, c]) => c === code);
  return entry?.[0] as TensorDtype | undefined;
}

/** A tensor dimension: a fixed size, or a symbolic name (`dim_param`) for a dynamic one. */
export type Dim = number | string;

/** A graph input or output: name, element type and (possibly symbolic) shape. */
export interface ValueInfoSpec {
  name: string;
  elemType: TensorDtype;
  shape: readonly Dim[];
}

/** A constant tensor stored as little-endian `raw_data`. */
export interface TensorSpec {
  name: string;
  elemType: TensorDtype;
  dims: readonly number[];
  rawData: Uint8Array;
}

/** One node attribute; `type` is the `AttributeProto.AttributeType` name. */
export type AttributeSpec =
  | { name: string; type: 'FLOAT'; value: number }
  | { name: string; type: 'INT'; value: number | bigint }
  | { name: string; type: 'STRING'; value: string }
  | { name: string; type: 'TENSOR'; value: TensorSpec }
  | { name: string; type: 'FLOATS'; value: readonly number[] }
  | { name: string; type: 'INTS'; value: readonly (number | bigint)[] };

/** One operator invocation. */
export interface NodeSpec {
  opType: string;
  inputs: readonly string[];
  outputs: readonly string[];
  name?: string;
  /** Operator-set domain; empty for the default `ai.onnx` domain. */
  domain?: string;
  attributes?: readonly AttributeSpec[];
}

/** A computation graph; nodes must be in topological order. */
export interface GraphSpec {
  name: string;
  nodes: readonly NodeSpec[];
  initializers: readonly TensorSpec[];
  inputs: readonly ValueInfoSpec[];
  outputs: readonly ValueInfoSpec[];
  docString?: string;
}

/** An imported operator set: `domain` '' is the default ONNX domain. */
export interface OpsetSpec {
  domain: string;
  version: number;
}

/** A whole model file. */
export interface ModelSpec {
  graph: GraphSpec;
  /** Defaults to 8 (ONNX 1.10+, read by every onnxruntime since 1.10). */
  irVersion?: number;
  /** Defaults to the default domain at opset 17. */
  opsets?: readonly OpsetSpec[];
  /** Defaults to `edge-fleet`. */
  producerName?: string;
  producerVersion?: string;
  docString?: string;
  metadata?: Readonly<Record<string, string>>;
}

function checkDims(dims: readonly number[], count: number, name: string): void {
  if (!dims.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new RangeError(`tensor ${name}: dims must be non-negative integers`);
  }
  const expected = dims.reduce((a, b) => a * b, 1);
  if (expected !== count) {
    throw new RangeError(`tensor ${name}: dims [${dims.join(', ')}] need ${expected} values, got ${count}`);
  }
}

/** Builds a float32 tensor; values are written little-endian whatever the host order. */
export function floatTensor(name: string, dims: readonly number[], values: ArrayLike<number>): TensorSpec {
  checkDims(dims, values.length, name);
  const rawData = new Uint8Array(values.length * 4);
  const view = new DataView(rawData.buffer);
  for (let i = 0; i < values.length; i += 1) view.setFloat32(i * 4, values[i] ?? 0, true);
  return { name, elemType: 'float32', dims: [...dims], rawData };
}

/** Builds an int64 tensor; values are written little-endian whatever the host order. */
export function int64Tensor(name: string, dims: readonly number[], values: ArrayLike<number | bigint>): TensorSpec {
  checkDims(dims, values.length, name);
  const rawData = new Uint8Array(values.length * 8);
  const view = new DataView(rawData.buffer);
  for (let i = 0; i < values.length; i += 1) view.setBigInt64(i * 8, BigInt(values[i] ?? 0), true);
  return { name, elemType: 'int64', dims: [...dims], rawData };
}
