/**
 * The one ONNX codec: the bytes of an `.onnx` file ⇄ the messages generated from ONNX's own
 * onnx.proto (package `onnx-buf`: ONNX 1.20, proto2, for `@bufbuild/protobuf`) ⇄ the typed
 * layer in `onnx-model.ts`. Every field ONNX defines is kept; fields newer than the schema
 * survive a round trip as the library's unknown fields.
 */
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import {
  AttributeProtoSchema,
  GraphProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  OperatorSetIdProtoSchema,
  TensorProtoSchema,
  ValueInfoProtoSchema,
  type ModelProto,
} from 'onnx-buf';
import type { OnnxAttribute, OnnxGraph, OnnxModel, OnnxNode, OnnxOpset, OnnxTensor, OnnxValueInfo } from './onnx-model.js';
import { modelFromProto } from './from-proto.js';
import { attributeToProto, graphToProto, modelToProto, nodeToProto, opsetToProto, tensorToProto, valueInfoToProto } from './to-proto.js';

/**
 * Decodes `.onnx` bytes into the generated `ModelProto`. `bytes` fields (`raw_data`, …) are
 * views into `bytes`, not copies: the model keeps the buffer alive, and writing into a view
 * writes into it. Nesting deeper than 100 messages is refused (the library's recursion limit).
 */
export function decodeModelProto(bytes: Uint8Array): ModelProto {
  return fromBinary(ModelProtoSchema, bytes);
}

/** Encodes a `ModelProto`, fields in field-number order as onnx's C++ serializer writes them. */
export function encodeModelProto(model: ModelProto): Uint8Array<ArrayBuffer> {
  return toBinary(ModelProtoSchema, model);
}

/**
 * Decodes `.onnx` bytes into the typed layer. Throws (a `RangeError` or the library's error)
 * when the bytes are not a protobuf `ModelProto` with a graph, an IR version >= 3 and an
 * `op_type` on every node.
 */
export function decodeModel(bytes: Uint8Array): OnnxModel {
  return modelFromProto(decodeModelProto(bytes));
}

/** Encodes a model of the typed layer: the bytes of an `.onnx` file. */
export function encodeModel(model: OnnxModel): Uint8Array<ArrayBuffer> {
  return encodeModelProto(modelToProto(model));
}

/** Encodes one `TensorProto` (e.g. to embed by hand in a test file). */
export const encodeTensor = (t: OnnxTensor): Uint8Array => toBinary(TensorProtoSchema, tensorToProto(t));
/** Encodes one `AttributeProto`. */
export const encodeAttribute = (a: OnnxAttribute): Uint8Array => toBinary(AttributeProtoSchema, attributeToProto(a));
/** Encodes one `NodeProto`. */
export const encodeNode = (n: OnnxNode): Uint8Array => toBinary(NodeProtoSchema, nodeToProto(n));
/** Encodes one `ValueInfoProto`. */
export const encodeValueInfo = (v: OnnxValueInfo): Uint8Array => toBinary(ValueInfoProtoSchema, valueInfoToProto(v));
/** Encodes one `GraphProto`. */
export const encodeGraph = (g: OnnxGraph): Uint8Array => toBinary(GraphProtoSchema, graphToProto(g));
/** Encodes one `OperatorSetIdProto`. */
export const encodeOpset = (o: OnnxOpset): Uint8Array => toBinary(OperatorSetIdProtoSchema, opsetToProto(o));
