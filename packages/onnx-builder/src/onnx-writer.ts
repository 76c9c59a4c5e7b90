/**
 * ONNX message writers. Field numbers follow onnx/onnx.proto3; fields are written in
 * field-number order, as the reference protobuf serializer does, so output is stable.
 */
import { ProtoWriter } from './protobuf-writer.js';
import {
  ELEM_TYPE,
  ELEM_SIZE,
  type AttributeSpec,
  type GraphSpec,
  type ModelSpec,
  type NodeSpec,
  type OpsetSpec,
  type TensorSpec,
  type ValueInfoSpec,
} from './onnx-types.js';

/** `AttributeProto.AttributeType` codes. */
const ATTRIBUTE_TYPE = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7 } as const;

/** Default opset imports: the standard domain at opset 17. */
export const DEFAULT_OPSETS: readonly OpsetSpec[] = [{ domain: '', version: 17 }];

/** Default `ModelProto.ir_version`. */
export const DEFAULT_IR_VERSION = 8;

/** Encodes a `TensorProto` with `raw_data`. */
export function encodeTensor(t: TensorSpec): Uint8Array {
  const expected = t.dims.reduce((a, b) => a * b, 1) * ELEM_SIZE[t.elemType];
  if (t.rawData.length !== expected) {
    throw new RangeError(`tensor ${t.name}: raw_data has ${t.rawData.length} bytes, dims need ${expected}`);
  }
  const w = new ProtoWriter();
  // dims are written unpacked, as onnx's own (proto2) serializer does; parsers accept both forms.
  for (const d of t.dims) w.varint(1, d); // dims
  w.varint(2, ELEM_TYPE[t.elemType]); // data_type
  if (t.name) w.string(8, t.name); // name
  w.bytes(9, t.rawData); // raw_data
  return w.finish();
}

/** Encodes an `AttributeProto`; `type` (field 20) is always set, as IR >= 2 requires. */
export function encodeAttribute(a: AttributeSpec): Uint8Array {
  const w = new ProtoWriter().string(1, a.name);
  switch (a.type) {
    case 'FLOAT':
      w.float(2, a.value);
      break;
    case 'INT':
      w.varint(3, a.value);
      break;
    case 'STRING':
      w.string(4, a.value);
      break;
    case 'TENSOR':
      w.bytes(5, encodeTensor(a.value));
      break;
    case 'FLOATS':
      for (const f of a.value) w.float(7, f);
      break;
    case 'INTS':
      for (const i of a.value) w.varint(8, i);
      break;
  }
  return w.varint(20, ATTRIBUTE_TYPE[a.type]).finish();
}

/** Encodes a `NodeProto`. */
export function encodeNode(n: NodeSpec): Uint8Array {
  const w = new ProtoWriter();
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  if (n.name) w.string(3, n.name);
  w.string(4, n.opType);
  for (const a of n.attributes ?? []) w.bytes(5, encodeAttribute(a));
  if (n.domain) w.string(7, n.domain);
  return w.finish();
}

/** Encodes a `ValueInfoProto` holding a `TypeProto.Tensor` with a shape. */
export function encodeValueInfo(v: ValueInfoSpec): Uint8Array {
  const shape = new ProtoWriter();
  for (const d of v.shape) {
    shape.message(1, (dim) => {
      if (typeof d === 'number')
        dim.varint(1, d); // dim_value
      else dim.string(2, d); // dim_param
    });
  }
  const tensorType = new ProtoWriter().varint(1, ELEM_TYPE[v.elemType]).bytes(2, shape.finish());
  const type = new ProtoWriter().bytes(1, tensorType.finish()); // TypeProto.tensor_type
  return new ProtoWriter().string(1, v.name).bytes(2, type.finish()).finish();
}

/** Encodes a `GraphProto`. */
export function encodeGraph(g: GraphSpec): Uint8Array {
  const w = new ProtoWriter();
  for (const n of g.nodes) w.bytes(1, encodeNode(n));
  w.string(2, g.name);
  for (const t of g.initializers) w.bytes(5, encodeTensor(t));
  if (g.docString) w.string(10, g.docString);
  for (const i of g.inputs) w.bytes(11, encodeValueInfo(i));
  for (const o of g.outputs) w.bytes(12, encodeValueInfo(o));
  return w.finish();
}

/** Encodes an `OperatorSetIdProto`; the empty default domain is omitted, as proto3 does. */
export function encodeOpset(o: OpsetSpec): Uint8Array {
  const w = new ProtoWriter();
  if (o.domain) w.string(1, o.domain);
  return w.varint(2, o.version).finish();
}

/** Encodes a complete `ModelProto`: the bytes of an `.onnx` file. */
export function encodeModel(m: ModelSpec): Uint8Array {
  const w = new ProtoWriter();
  w.varint(1, m.irVersion ?? DEFAULT_IR_VERSION);
  w.string(2, m.producerName ?? 'edge-fleet');
  if (m.producerVersion) w.string(3, m.producerVersion);
  if (m.docString) w.string(6, m.docString);
  w.bytes(7, encodeGraph(m.graph));
  for (const o of m.opsets ?? DEFAULT_OPSETS) w.bytes(8, encodeOpset(o));
  for (const [key, value] of Object.entries(m.metadata ?? {})) {
    w.message(14, (e) => e.string(1, key).string(2, value));
  }
  return w.finish();
}
