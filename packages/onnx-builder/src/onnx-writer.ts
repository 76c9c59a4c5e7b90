/**
 * Encoding what the builder makes, through the shared codec (`@edge-fleet/onnx-codec`). Output
 * is byte for byte what onnx's own serializer writes for the same fields (field-number order,
 * `dims` unpacked as proto2 declares them), so the files are stable across releases.
 */
import * as codec from '@edge-fleet/onnx-codec';
import type { OnnxGraph, OnnxModel, OnnxOpset, OnnxTensor, StringEntry } from '@edge-fleet/onnx-codec';
import { checkRawTensor, nodeOf, valueInfoOf, type NodeSpec, type ValueInfoSpec } from './onnx-types.js';

/** Default opset imports: the standard domain at opset 17. */
export const DEFAULT_OPSETS: readonly OnnxOpset[] = [{ domain: '', version: 17 }];

/** Default `ModelProto.ir_version`. */
export const DEFAULT_IR_VERSION = 8;

/** What a model file says besides its graph; every field has a default. */
export interface ModelOptions {
  /** Defaults to 8 (ONNX 1.10+, read by every onnxruntime since 1.10). */
  irVersion?: number;
  /** Defaults to the default domain at opset 17. */
  opsets?: readonly OnnxOpset[];
  /** Defaults to `edge-fleet`. */
  producerName?: string;
  producerVersion?: string;
  docString?: string;
  metadata?: Readonly<Record<string, string>>;
}

/** A whole model around `graph`. */
export function modelOf(graph: OnnxGraph, options: ModelOptions = {}): OnnxModel {
  const metadata: StringEntry[] = Object.entries(options.metadata ?? {}).map(([key, value]) => ({ key, value }));
  return {
    irVersion: options.irVersion ?? DEFAULT_IR_VERSION,
    producerName: options.producerName ?? 'edge-fleet',
    producerVersion: options.producerVersion ?? '',
    domain: '',
    modelVersion: 0,
    docString: options.docString ?? '',
    graph,
    opsets: (options.opsets ?? DEFAULT_OPSETS).map((o) => ({ ...o })),
    metadata,
  };
}

/** Encodes a model around `graph`: the bytes of an `.onnx` file. Raw tensors are checked against their dims. */
export function encodeModel(graph: OnnxGraph, options: ModelOptions = {}): Uint8Array {
  graph.initializers.forEach(checkRawTensor);
  for (const a of graph.nodes.flatMap((n) => n.attributes)) if (a.type === 'TENSOR') checkRawTensor(a.value);
  return codec.encodeModel(modelOf(graph, options));
}

/** Encodes a `TensorProto`, checking `raw_data` against the dims. */
export function encodeTensor(t: OnnxTensor): Uint8Array {
  checkRawTensor(t);
  return codec.encodeTensor(t);
}

/** Encodes a `NodeProto` from its shorthand. */
export const encodeNode = (n: NodeSpec): Uint8Array => codec.encodeNode(nodeOf(n));

/** Encodes a tensor `ValueInfoProto` from its shorthand. */
export const encodeValueInfo = (v: ValueInfoSpec): Uint8Array => codec.encodeValueInfo(valueInfoOf(v));

export { encodeAttribute, encodeOpset } from '@edge-fleet/onnx-codec';
