/**
 * The typed layer (`onnx-model.ts`) as generated ONNX messages. A field is set where ONNX's own
 * writers set it (empty names and doc strings are left out) or where the decoded file had it
 * (`extra`), so a model built here encodes as it always has and a decoded one as it was.
 */
import { create } from '@bufbuild/protobuf';
import {
  AttributeProtoSchema,
  GraphProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  OperatorSetIdProtoSchema,
  StringStringEntryProtoSchema,
  TensorProtoSchema,
  TensorShapeProto_DimensionSchema,
  TensorShapeProtoSchema,
  TypeProto_TensorSchema,
  TypeProtoSchema,
  ValueInfoProtoSchema,
  type AttributeProto,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  type OperatorSetIdProto,
  type StringStringEntryProto,
  type TensorProto,
  type TensorShapeProto_Dimension,
  type TypeProto,
  type ValueInfoProto,
} from 'onnx-buf';
import type {
  ExtraFields,
  OnnxAttribute,
  OnnxDim,
  OnnxGraph,
  OnnxModel,
  OnnxNode,
  OnnxOpset,
  OnnxTensor,
  OnnxType,
  OnnxValueInfo,
  StringEntry,
} from './onnx-model.js';

const utf8Encoder = new TextEncoder();

/** A new message holding the carried fields; the layer's own fields are set on it afterwards. */
function withExtra<M extends object>(msg: M, extra: ExtraFields<M> | undefined): M {
  return extra ? Object.assign(msg, extra) : msg;
}

const entryTo = (e: StringEntry): StringStringEntryProto => create(StringStringEntryProtoSchema, { key: e.key, value: e.value });

/** A layer tensor as a `TensorProto`. */
export function tensorToProto(t: OnnxTensor): TensorProto {
  const msg = Object.assign(withExtra(create(TensorProtoSchema), t.extra), {
    dims: t.dims.map(BigInt),
    dataType: t.dataType,
    floatData: t.floatData,
    int32Data: t.int32Data,
    // The generated types ask for ArrayBuffer-backed bytes; the writer reads any Uint8Array.
    stringData: t.stringData as Uint8Array<ArrayBuffer>[],
    int64Data: t.int64Data,
    doubleData: t.doubleData,
    uint64Data: t.uint64Data,
    externalData: t.externalData.map(entryTo),
  });
  if (t.name) msg.name = t.name;
  // raw_data is passed through, not copied: encoding copies it once into the output.
  if (t.rawData) msg.rawData = t.rawData as Uint8Array<ArrayBuffer>;
  if (t.docString) msg.docString = t.docString;
  if (t.dataLocation) msg.dataLocation = t.dataLocation;
  return msg;
}

function dimTo(d: OnnxDim): TensorShapeProto_Dimension {
  if (typeof d === 'number') return create(TensorShapeProto_DimensionSchema, { value: { case: 'dimValue', value: BigInt(d) } });
  if (typeof d === 'string') return create(TensorShapeProto_DimensionSchema, { value: { case: 'dimParam', value: d } });
  return create(TensorShapeProto_DimensionSchema);
}

function typeTo(t: OnnxType): TypeProto {
  const msg = withExtra(create(TypeProtoSchema), t.extra);
  if (t.tensor) {
    const tensor = create(TypeProto_TensorSchema, { elemType: t.tensor.elemType });
    if (t.tensor.shape) tensor.shape = create(TensorShapeProtoSchema, { dim: t.tensor.shape.map(dimTo) });
    msg.value = { case: 'tensorType', value: tensor };
  }
  if (t.denotation) msg.denotation = t.denotation;
  return msg;
}

export function valueInfoToProto(v: OnnxValueInfo): ValueInfoProto {
  const msg = Object.assign(withExtra(create(ValueInfoProtoSchema), v.extra), { name: v.name });
  if (v.type) msg.type = typeTo(v.type);
  if (v.docString) msg.docString = v.docString;
  return msg;
}

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

function setAttributeValue(msg: AttributeProto, a: OnnxAttribute): void {
  switch (a.type) {
    case 'FLOAT':
      msg.f = a.value;
      return;
    case 'INT':
      msg.i = a.value;
      return;
    case 'STRING':
      msg.s = utf8Encoder.encode(a.value);
      return;
    case 'TENSOR':
      msg.t = tensorToProto(a.value);
      return;
    case 'GRAPH':
      msg.g = graphToProto(a.value);
      return;
    case 'FLOATS':
      msg.floats = a.value;
      return;
    case 'INTS':
      msg.ints = a.value;
      return;
    case 'STRINGS':
      msg.strings = a.value.map((s) => utf8Encoder.encode(s));
      return;
    case 'TENSORS':
      msg.tensors = a.value.map(tensorToProto);
      return;
    case 'GRAPHS':
      msg.graphs = a.value.map(graphToProto);
      return;
    case 'OTHER':
      return; // the payload (sparse tensors, type protos) is in `extra`
  }
}

/** A layer attribute as an `AttributeProto`; `type` is always set, as IR >= 2 requires. */
export function attributeToProto(a: OnnxAttribute): AttributeProto {
  const msg = Object.assign(withExtra(create(AttributeProtoSchema), a.extra), {
    name: a.name,
    type: a.type === 'OTHER' ? a.code : ATTRIBUTE_CODE[a.type],
  });
  setAttributeValue(msg, a);
  if (a.docString) msg.docString = a.docString;
  if (a.refAttrName) msg.refAttrName = a.refAttrName;
  return msg;
}

/** A layer node as a `NodeProto`. */
export function nodeToProto(n: OnnxNode): NodeProto {
  const msg = Object.assign(withExtra(create(NodeProtoSchema), n.extra), {
    input: n.inputs,
    output: n.outputs,
    opType: n.opType,
    attribute: n.attributes.map(attributeToProto),
  });
  if (n.name) msg.name = n.name;
  if (n.docString) msg.docString = n.docString;
  if (n.domain) msg.domain = n.domain;
  return msg;
}

/** A layer graph as a `GraphProto`. */
export function graphToProto(g: OnnxGraph): GraphProto {
  const msg = Object.assign(withExtra(create(GraphProtoSchema), g.extra), {
    node: g.nodes.map(nodeToProto),
    name: g.name,
    initializer: g.initializers.map(tensorToProto),
    input: g.inputs.map(valueInfoToProto),
    output: g.outputs.map(valueInfoToProto),
    valueInfo: g.valueInfo.map(valueInfoToProto),
  });
  if (g.docString) msg.docString = g.docString;
  return msg;
}

/** A layer opset import as an `OperatorSetIdProto`; the empty default domain is left out, as onnx does. */
export function opsetToProto(o: OnnxOpset): OperatorSetIdProto {
  const msg = Object.assign(withExtra(create(OperatorSetIdProtoSchema), o.extra), { version: BigInt(o.version) });
  if (o.domain) msg.domain = o.domain;
  return msg;
}

/** A layer model as a `ModelProto`. */
export function modelToProto(m: OnnxModel): ModelProto {
  const msg = Object.assign(withExtra(create(ModelProtoSchema), m.extra), {
    irVersion: BigInt(m.irVersion),
    graph: graphToProto(m.graph),
    opsetImport: m.opsets.map(opsetToProto),
    metadataProps: m.metadata.map(entryTo),
  });
  if (m.producerName) msg.producerName = m.producerName;
  if (m.producerVersion) msg.producerVersion = m.producerVersion;
  if (m.domain) msg.domain = m.domain;
  if (m.modelVersion) msg.modelVersion = BigInt(m.modelVersion);
  if (m.docString) msg.docString = m.docString;
  return msg;
}
