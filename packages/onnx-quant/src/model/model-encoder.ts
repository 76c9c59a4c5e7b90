/**
 * Encodes an `OnnxModel` back to bytes with onnx-builder's `ProtoWriter`. Fields are written in
 * field-number order, as onnx-builder and the reference serializer do; raw unknown fields last.
 */
import { ProtoWriter } from '@edge-fleet/onnx-builder';
import type {
  OnnxAttribute,
  OnnxDim,
  OnnxGraph,
  OnnxModel,
  OnnxNode,
  OnnxTensor,
  OnnxType,
  OnnxValueInfo,
  StringEntry,
} from './onnx-model.js';

const ATTRIBUTE_CODE = {
  FLOAT: 1,
  INT: 2,
  STRING: 3,
  TENSOR: 4,
  GRAPH: 5,
  FLOATS: 6,
  INTS: 7,
  STRINGS: 8,
  TENSORS: 9,
  GRAPHS: 10,
} as const;

function writeUnknown(w: ProtoWriter, unknown: readonly Uint8Array[]): Uint8Array {
  for (const u of unknown) w.raw(u);
  return w.finish();
}

function encodeEntry(e: StringEntry): Uint8Array {
  return new ProtoWriter().string(1, e.key).string(2, e.value).finish();
}

function packedDoubles(w: ProtoWriter, field: number, values: readonly number[]): void {
  if (values.length === 0) return;
  const buf = new Uint8Array(values.length * 8);
  const view = new DataView(buf.buffer);
  values.forEach((v, i) => view.setFloat64(i * 8, v, true));
  w.bytes(field, buf);
}

/** Encodes a `TensorProto`. */
export function encodeTensor(t: OnnxTensor): Uint8Array {
  const w = new ProtoWriter();
  for (const d of t.dims) w.varint(1, d); // unpacked, as onnx's proto2 serializer writes dims
  w.varint(2, t.dataType);
  w.packedFloats(4, t.floatData);
  w.packedVarints(5, t.int32Data);
  for (const s of t.stringData) w.bytes(6, s);
  w.packedVarints(7, t.int64Data);
  if (t.name) w.string(8, t.name);
  if (t.rawData) w.bytes(9, t.rawData);
  packedDoubles(w, 10, t.doubleData);
  w.packedVarints(11, t.uint64Data);
  if (t.docString) w.string(12, t.docString);
  for (const e of t.externalData) w.bytes(13, encodeEntry(e));
  if (t.dataLocation) w.varint(14, t.dataLocation);
  return writeUnknown(w, t.unknown);
}

function encodeDim(d: OnnxDim): Uint8Array {
  const w = new ProtoWriter();
  if (typeof d === 'number') w.varint(1, d);
  else if (typeof d === 'string') w.string(2, d);
  return w.finish();
}

function encodeType(t: OnnxType): Uint8Array {
  const w = new ProtoWriter();
  if (t.tensor) {
    const tensor = new ProtoWriter().varint(1, t.tensor.elemType);
    if (t.tensor.shape) {
      const shape = new ProtoWriter();
      for (const d of t.tensor.shape) shape.bytes(1, encodeDim(d));
      tensor.bytes(2, shape.finish());
    }
    w.bytes(1, tensor.finish());
  }
  if (t.denotation) w.string(6, t.denotation);
  return writeUnknown(w, t.unknown);
}

function encodeValueInfo(v: OnnxValueInfo): Uint8Array {
  const w = new ProtoWriter().string(1, v.name);
  if (v.type) w.bytes(2, encodeType(v.type));
  if (v.docString) w.string(3, v.docString);
  return writeUnknown(w, v.unknown);
}

function writeAttributeValue(w: ProtoWriter, a: OnnxAttribute): void {
  switch (a.type) {
    case 'FLOAT':
      w.float(2, a.value);
      return;
    case 'INT':
      w.varint(3, a.value);
      return;
    case 'STRING':
      w.string(4, a.value);
      return;
    case 'TENSOR':
      w.bytes(5, encodeTensor(a.value));
      return;
    case 'GRAPH':
      w.bytes(6, encodeGraph(a.value));
      return;
    case 'FLOATS':
      for (const f of a.value) w.float(7, f);
      return;
    case 'INTS':
      for (const i of a.value) w.varint(8, i);
      return;
    case 'STRINGS':
      for (const s of a.value) w.string(9, s);
      return;
    case 'TENSORS':
      for (const t of a.value) w.bytes(10, encodeTensor(t));
      return;
    case 'GRAPHS':
      for (const g of a.value) w.bytes(11, encodeGraph(g));
      return;
    case 'OTHER':
      return; // the payload is among the raw unknown fields
  }
}

function encodeAttribute(a: OnnxAttribute): Uint8Array {
  const w = new ProtoWriter().string(1, a.name);
  writeAttributeValue(w, a);
  if (a.docString) w.string(13, a.docString);
  w.varint(20, a.type === 'OTHER' ? a.code : ATTRIBUTE_CODE[a.type]);
  if (a.refAttrName) w.string(21, a.refAttrName);
  return writeUnknown(w, a.unknown);
}

function encodeNode(n: OnnxNode): Uint8Array {
  const w = new ProtoWriter();
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  if (n.name) w.string(3, n.name);
  w.string(4, n.opType);
  for (const a of n.attributes) w.bytes(5, encodeAttribute(a));
  if (n.docString) w.string(6, n.docString);
  if (n.domain) w.string(7, n.domain);
  return writeUnknown(w, n.unknown);
}

/** Encodes a `GraphProto`. */
export function encodeGraph(g: OnnxGraph): Uint8Array {
  const w = new ProtoWriter();
  for (const n of g.nodes) w.bytes(1, encodeNode(n));
  w.string(2, g.name);
  for (const t of g.initializers) w.bytes(5, encodeTensor(t));
  if (g.docString) w.string(10, g.docString);
  for (const i of g.inputs) w.bytes(11, encodeValueInfo(i));
  for (const o of g.outputs) w.bytes(12, encodeValueInfo(o));
  for (const v of g.valueInfo) w.bytes(13, encodeValueInfo(v));
  return writeUnknown(w, g.unknown);
}

/** Encodes a whole model: the bytes of an `.onnx` file. */
export function encodeOnnxModel(m: OnnxModel): Uint8Array {
  const w = new ProtoWriter();
  w.varint(1, m.irVersion);
  if (m.producerName) w.string(2, m.producerName);
  if (m.producerVersion) w.string(3, m.producerVersion);
  if (m.domain) w.string(4, m.domain);
  if (m.modelVersion) w.varint(5, m.modelVersion);
  if (m.docString) w.string(6, m.docString);
  w.bytes(7, encodeGraph(m.graph));
  for (const o of m.opsets) {
    const ow = new ProtoWriter();
    if (o.domain) ow.string(1, o.domain);
    w.bytes(8, ow.varint(2, o.version).finish());
  }
  for (const e of m.metadata) w.bytes(14, encodeEntry(e));
  return writeUnknown(w, m.unknown);
}
