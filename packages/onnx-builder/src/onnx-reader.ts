/** A model's signature (graph inputs, outputs, opsets) read through the shared codec. */
import { decodeModel, type OnnxValueInfo } from '@edge-fleet/onnx-codec';
import type { Dim } from './onnx-types.js';

/** A graph input or output as stored; `elemType` is the raw `TensorProto.DataType` code. */
export interface ValueSignature {
  name: string;
  /** 0 when the value is not a tensor. */
  elemType: number;
  /** `undefined` when the model declares no shape; `'?'` marks a dimension with neither value nor name. */
  shape: Dim[] | undefined;
}

/** What `readModelSignature` returns. */
export interface ModelSignature {
  irVersion: number;
  producerName: string;
  opsets: Array<{ domain: string; version: number }>;
  /** Graph inputs that are not initializers. */
  inputs: ValueSignature[];
  outputs: ValueSignature[];
}

function signatureOf(v: OnnxValueInfo): ValueSignature {
  const tensor = v.type?.tensor;
  return { name: v.name, elemType: tensor?.elemType ?? 0, shape: tensor?.shape?.map((d) => d ?? '?') };
}

/** Reads the IR version, producer, opset imports and graph signature of an ONNX model. */
export function readModelSignature(bytes: Uint8Array): ModelSignature {
  const m = decodeModel(bytes);
  // Before IR 4 initializers were also listed as inputs; they are not fed by callers.
  const initializers = new Set(m.graph.initializers.map((t) => t.name));
  return {
    irVersion: m.irVersion,
    producerName: m.producerName,
    opsets: m.opsets,
    inputs: m.graph.inputs.filter((i) => !initializers.has(i.name)).map(signatureOf),
    outputs: m.graph.outputs.map(signatureOf),
  };
}
