/**
 * The builder's shorthands over the codec's typed layer: element types by dtype name, and the
 * tensors, nodes and value infos a hand-built graph is made of.
 */
import {
  DataType,
  makeNode,
  rawTensor,
  tensorValueInfo,
  type OnnxAttribute,
  type OnnxNode,
  type OnnxTensor,
  type OnnxValueInfo,
} from '@edge-fleet/onnx-codec';
import type { TensorDtype } from '@edge-fleet/shared/schemas';

/** `TensorProto.DataType` codes of the element types we write. */
export const ELEM_TYPE: Readonly<Record<TensorDtype, number>> = {
  float32: DataType.FLOAT,
  uint8: DataType.UINT8,
  int8: DataType.INT8,
  int32: DataType.INT32,
  int64: DataType.INT64,
  bool: DataType.BOOL,
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

/** A graph input or output by dtype name: shorthand for a tensor `ValueInfoProto`. */
export interface ValueInfoSpec {
  name: string;
  elemType: TensorDtype;
  shape: readonly Dim[];
}

/** One operator invocation; what is left out is empty. Shorthand for a `NodeProto`. */
export interface NodeSpec {
  opType: string;
  inputs: readonly string[];
  outputs: readonly string[];
  name?: string;
  /** Operator-set domain; empty for the default `ai.onnx` domain. */
  domain?: string;
  attributes?: readonly OnnxAttribute[];
}

/** The codec's value info for a spec. */
export function valueInfoOf(v: ValueInfoSpec): OnnxValueInfo {
  return tensorValueInfo(v.name, ELEM_TYPE[v.elemType], [...v.shape]);
}

/** The codec's node for a spec. */
export function nodeOf(n: NodeSpec): OnnxNode {
  return makeNode(n.opType, n.inputs, n.outputs, n.name ?? '', [...(n.attributes ?? [])], n.domain ?? '');
}

/** Throws unless a `raw_data` tensor of a known element type holds exactly what its dims need. */
export function checkRawTensor(t: OnnxTensor): void {
  const dtype = dtypeFromElemType(t.dataType);
  if (!t.rawData || dtype === undefined) return;
  const expected = t.dims.reduce((a, b) => a * b, 1) * ELEM_SIZE[dtype];
  if (t.rawData.length !== expected) {
    throw new RangeError(`tensor ${t.name}: raw_data has ${t.rawData.length} bytes, dims need ${expected}`);
  }
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
export function floatTensor(name: string, dims: readonly number[], values: ArrayLike<number>): OnnxTensor {
  checkDims(dims, values.length, name);
  const rawData = new Uint8Array(values.length * 4);
  const view = new DataView(rawData.buffer);
  for (let i = 0; i < values.length; i += 1) view.setFloat32(i * 4, values[i] ?? 0, true);
  return rawTensor(name, DataType.FLOAT, dims, rawData);
}

/** Builds an int64 tensor; values are written little-endian whatever the host order. */
export function int64Tensor(name: string, dims: readonly number[], values: ArrayLike<number | bigint>): OnnxTensor {
  checkDims(dims, values.length, name);
  const rawData = new Uint8Array(values.length * 8);
  const view = new DataView(rawData.buffer);
  for (let i = 0; i < values.length; i += 1) view.setBigInt64(i * 8, BigInt(values[i] ?? 0), true);
  return rawTensor(name, DataType.INT64, dims, rawData);
}
