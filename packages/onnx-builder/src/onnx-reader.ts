/**
 * A minimal `ModelProto` reader: just enough to learn a model's signature (graph inputs,
 * outputs, opsets) without loading a runtime. Every other field is skipped.
 */
import { ProtoReader } from './protobuf-reader.js';
import { WireType } from './protobuf-writer.js';
import type { Dim, OpsetSpec } from './onnx-types.js';

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
  opsets: OpsetSpec[];
  /** Graph inputs that are not initializers. */
  inputs: ValueSignature[];
  outputs: ValueSignature[];
}

/** Calls `onField` for every field of `bytes`; fields it does not consume are skipped. */
function eachField(bytes: Uint8Array, onField: (field: number, wireType: number, r: ProtoReader) => boolean): void {
  const r = new ProtoReader(bytes);
  while (r.hasMore()) {
    const { field, wireType } = r.tag();
    if (!onField(field, wireType, r)) r.skip(wireType);
  }
}

const LEN = WireType.lengthDelimited;
const VARINT = WireType.varint;

function readDim(bytes: Uint8Array): Dim {
  let dim: Dim = '?';
  eachField(bytes, (field, wt, r) => {
    if (field === 1 && wt === VARINT) dim = r.varint();
    else if (field === 2 && wt === LEN) dim = r.string();
    else return false;
    return true;
  });
  return dim;
}

function readShape(bytes: Uint8Array): Dim[] {
  const shape: Dim[] = [];
  eachField(bytes, (field, wt, r) => {
    if (field !== 1 || wt !== LEN) return false;
    shape.push(readDim(r.bytes()));
    return true;
  });
  return shape;
}

function readTensorType(bytes: Uint8Array, out: ValueSignature): void {
  eachField(bytes, (field, wt, r) => {
    if (field === 1 && wt === VARINT) out.elemType = r.varint();
    else if (field === 2 && wt === LEN) {
      out.shape = readShape(r.bytes());
    } else return false;
    return true;
  });
}

function readValueInfo(bytes: Uint8Array): ValueSignature {
  const out: ValueSignature = { name: '', elemType: 0, shape: undefined };
  eachField(bytes, (field, wt, r) => {
    if (field === 1 && wt === LEN) out.name = r.string();
    else if (field === 2 && wt === LEN) {
      // TypeProto: only tensor_type (field 1) is of interest.
      eachField(r.bytes(), (f, w, rr) => {
        if (f !== 1 || w !== LEN) return false;
        readTensorType(rr.bytes(), out);
        return true;
      });
    } else return false;
    return true;
  });
  return out;
}

function readTensorName(bytes: Uint8Array): string {
  let name = '';
  eachField(bytes, (field, wt, r) => {
    if (field !== 8 || wt !== LEN) return false;
    name = r.string();
    return true;
  });
  return name;
}

function readGraph(bytes: Uint8Array, model: ModelSignature): void {
  const initializers = new Set<string>();
  const inputs: ValueSignature[] = [];
  eachField(bytes, (field, wt, r) => {
    if (wt !== LEN) return false;
    if (field === 5) initializers.add(readTensorName(r.bytes()));
    else if (field === 11) inputs.push(readValueInfo(r.bytes()));
    else if (field === 12) model.outputs.push(readValueInfo(r.bytes()));
    else return false;
    return true;
  });
  // Before IR 4 initializers were also listed as inputs; they are not fed by callers.
  model.inputs = inputs.filter((i) => !initializers.has(i.name));
}

function readOpset(bytes: Uint8Array): OpsetSpec {
  const out: OpsetSpec = { domain: '', version: 0 };
  eachField(bytes, (field, wt, r) => {
    if (field === 1 && wt === LEN) out.domain = r.string();
    else if (field === 2 && wt === VARINT) out.version = r.varint();
    else return false;
    return true;
  });
  return out;
}

/** Reads the IR version, producer, opset imports and graph signature of an ONNX model. */
export function readModelSignature(bytes: Uint8Array): ModelSignature {
  const model: ModelSignature = { irVersion: 0, producerName: '', opsets: [], inputs: [], outputs: [] };
  eachField(bytes, (field, wt, r) => {
    if (field === 1 && wt === VARINT) model.irVersion = r.varint();
    else if (field === 2 && wt === LEN) model.producerName = r.string();
    else if (field === 7 && wt === LEN) readGraph(r.bytes(), model);
    else if (field === 8 && wt === LEN) model.opsets.push(readOpset(r.bytes()));
    else return false;
    return true;
  });
  return model;
}
