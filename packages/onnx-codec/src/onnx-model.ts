/**
 * The typed layer over the generated ONNX messages that the builder and the quantizer work on:
 * plain mutable objects (numbers for dims and versions, attributes as a tagged union) that
 * `structuredClone` can copy. Each object keeps the fields of its message it does not model in
 * `extra` (the message's own, as decoded), so a decode → encode round trip loses nothing.
 */
import type {
  AttributeProto,
  GraphProto,
  ModelProto,
  NodeProto,
  OperatorSetIdProto,
  TensorProto,
  TypeProto,
  ValueInfoProto,
} from 'onnx-buf';

/** The fields of a message this layer does not model, carried through unchanged (and its unknown fields). */
export type ExtraFields<M> = Partial<Omit<M, '$typeName'>>;

/** `TensorProto.DataType` codes. */
export const DataType = {
  UNDEFINED: 0,
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
  BFLOAT16: 16,
  UINT4: 21,
  INT4: 22,
} as const;

/** One key/value string pair (`StringStringEntryProto`). */
export interface StringEntry {
  key: string;
  value: string;
}

/** A `TensorProto`; the payload is in `rawData` or in exactly one typed field. */
export interface OnnxTensor {
  name: string;
  dataType: number;
  dims: number[];
  rawData?: Uint8Array;
  floatData: number[];
  int32Data: number[];
  int64Data: bigint[];
  doubleData: number[];
  uint64Data: bigint[];
  stringData: Uint8Array[];
  docString: string;
  /** 0 = DEFAULT, 1 = EXTERNAL. */
  dataLocation: number;
  externalData: StringEntry[];
  extra?: ExtraFields<TensorProto>;
}

/** A tensor dimension: fixed size, symbolic name, or unknown (`null`). */
export type OnnxDim = number | string | null;

/** A `TypeProto`; only tensor types are interpreted, other kinds stay in `extra`. */
export interface OnnxType {
  tensor?: { elemType: number; shape?: OnnxDim[] };
  denotation: string;
  extra?: ExtraFields<TypeProto>;
}

/** A `ValueInfoProto`. */
export interface OnnxValueInfo {
  name: string;
  type?: OnnxType;
  docString: string;
  extra?: ExtraFields<ValueInfoProto>;
}

/** The value of an attribute, by `AttributeProto.AttributeType` name. */
export type OnnxAttributeValue =
  | { type: 'FLOAT'; value: number }
  | { type: 'INT'; value: bigint }
  | { type: 'STRING'; value: string }
  | { type: 'TENSOR'; value: OnnxTensor }
  | { type: 'GRAPH'; value: OnnxGraph }
  | { type: 'FLOATS'; value: number[] }
  | { type: 'INTS'; value: bigint[] }
  | { type: 'STRINGS'; value: string[] }
  | { type: 'TENSORS'; value: OnnxTensor[] }
  | { type: 'GRAPHS'; value: OnnxGraph[] }
  /** Sparse tensors and type protos: the payload stays in `extra`. */
  | { type: 'OTHER'; code: number };

/** An `AttributeProto`. */
export type OnnxAttribute = OnnxAttributeValue & {
  name: string;
  docString: string;
  refAttrName: string;
  extra?: ExtraFields<AttributeProto>;
};

/** A `NodeProto`. */
export interface OnnxNode {
  inputs: string[];
  outputs: string[];
  name: string;
  opType: string;
  domain: string;
  attributes: OnnxAttribute[];
  docString: string;
  extra?: ExtraFields<NodeProto>;
}

/** A `GraphProto`. */
export interface OnnxGraph {
  name: string;
  nodes: OnnxNode[];
  initializers: OnnxTensor[];
  docString: string;
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
  valueInfo: OnnxValueInfo[];
  extra?: ExtraFields<GraphProto>;
}

/** An `OperatorSetIdProto`. */
export interface OnnxOpset {
  domain: string;
  version: number;
  extra?: ExtraFields<OperatorSetIdProto>;
}

/** A `ModelProto`. */
export interface OnnxModel {
  irVersion: number;
  producerName: string;
  producerVersion: string;
  domain: string;
  modelVersion: number;
  docString: string;
  graph: OnnxGraph;
  opsets: OnnxOpset[];
  metadata: StringEntry[];
  extra?: ExtraFields<ModelProto>;
}

/** A tensor with `raw_data` and no other payload. */
export function rawTensor(name: string, dataType: number, dims: readonly number[], rawData: Uint8Array): OnnxTensor {
  return {
    name,
    dataType,
    dims: [...dims],
    rawData,
    floatData: [],
    int32Data: [],
    int64Data: [],
    doubleData: [],
    uint64Data: [],
    stringData: [],
    docString: '',
    dataLocation: 0,
    externalData: [],
  };
}

/** A node in the given domain with no doc string. */
export function makeNode(
  opType: string,
  inputs: readonly string[],
  outputs: readonly string[],
  name: string,
  attributes: OnnxAttribute[] = [],
  domain = '',
): OnnxNode {
  return { inputs: [...inputs], outputs: [...outputs], name, opType, domain, attributes, docString: '' };
}

/** Builds an attribute from its value. */
export function makeAttribute(name: string, value: OnnxAttributeValue): OnnxAttribute {
  return { ...value, name, docString: '', refAttrName: '' };
}

/** A graph input/output description of a tensor. */
export function tensorValueInfo(name: string, elemType: number, shape?: OnnxDim[]): OnnxValueInfo {
  return {
    name,
    type: { tensor: shape ? { elemType, shape } : { elemType }, denotation: '' },
    docString: '',
  };
}
