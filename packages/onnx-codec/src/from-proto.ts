/**
 * The generated ONNX messages as the typed layer (`onnx-model.ts`): numbers replace int64
 * bigints where ONNX means a count or a version, and every field the layer does not model
 * travels in `extra`, with the modelled ones a file sets to their default value, so that
 * `to-proto.ts` writes the file back byte for byte.
 */
import { isFieldSet } from '@bufbuild/protobuf';
import {
  AttributeProto_AttributeType,
  TensorProtoSchema,
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
  OnnxAttributeValue,
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

const utf8 = new TextDecoder('utf-8');

/** An int64 that ONNX uses as a count, size or version; refuses what a JS number cannot hold. */
function toNumber(v: bigint): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new RangeError(`int64 ${v} is not a safe integer`);
  return n;
}

/**
 * The fields of `msg` outside `modeled` that hold something (unknown fields included), and the
 * modelled ones present with a default value, or undefined when there are none: empty lists and
 * unset oneofs are left behind.
 */
function extraOf<M extends object>(msg: M, modeled: ReadonlySet<string>): ExtraFields<M> | undefined {
  const extra: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(msg) as Array<[string, unknown]>) {
    if (key === '$typeName' || value === undefined) continue;
    if (modeled.has(key)) {
      // A modelled field the file sets to its default (an explicit empty name, say) is written
      // back as it was; the layer alone would leave it out.
      if (isDefaultScalar(value)) extra[key] = value;
      continue;
    }
    if (Array.isArray(value) && value.length === 0) continue;
    if (typeof value === 'object' && value !== null && 'case' in value && value.case === undefined) continue;
    extra[key] = value;
  }
  return Object.keys(extra).length === 0 ? undefined : (extra as ExtraFields<M>);
}

const isDefaultScalar = (v: unknown): boolean => v === '' || v === 0 || v === 0n || v === false;

const fields = (...names: string[]): ReadonlySet<string> => new Set(names);
const TENSOR_FIELDS = fields(
  'dims',
  'dataType',
  'floatData',
  'int32Data',
  'stringData',
  'int64Data',
  'name',
  'rawData',
  'doubleData',
  'uint64Data',
  'docString',
  'externalData',
  'dataLocation',
);
const TYPE_FIELDS = fields('denotation');
const OPSET_FIELDS = fields('domain', 'version');
const VALUE_INFO_FIELDS = fields('name', 'type', 'docString');
const ATTRIBUTE_FIELDS = fields(
  'name',
  'refAttrName',
  'docString',
  'type',
  'f',
  'i',
  's',
  't',
  'g',
  'floats',
  'ints',
  'strings',
  'tensors',
  'graphs',
);
const NODE_FIELDS = fields('input', 'output', 'name', 'opType', 'domain', 'attribute', 'docString');
const GRAPH_FIELDS = fields('node', 'name', 'initializer', 'docString', 'input', 'output', 'valueInfo');
const MODEL_FIELDS = fields(
  'irVersion',
  'opsetImport',
  'producerName',
  'producerVersion',
  'domain',
  'modelVersion',
  'docString',
  'graph',
  'metadataProps',
);

const entryFrom = (e: StringStringEntryProto): StringEntry => ({ key: e.key, value: e.value });

/** A `TensorProto` as a layer tensor; `raw_data` stays a view into the decoded bytes. */
export function tensorFromProto(t: TensorProto): OnnxTensor {
  const out: OnnxTensor = {
    name: t.name,
    dataType: t.dataType,
    dims: t.dims.map(toNumber),
    floatData: t.floatData,
    int32Data: t.int32Data,
    int64Data: t.int64Data,
    doubleData: t.doubleData,
    uint64Data: t.uint64Data,
    stringData: t.stringData,
    docString: t.docString,
    dataLocation: t.dataLocation,
    externalData: t.externalData.map(entryFrom),
  };
  if (isFieldSet(t, TensorProtoSchema.field.rawData)) out.rawData = t.rawData;
  const extra = extraOf(t, TENSOR_FIELDS);
  if (extra) out.extra = extra;
  return out;
}

function dimFrom(d: TensorShapeProto_Dimension): OnnxDim {
  if (d.value.case === 'dimValue') return toNumber(d.value.value);
  if (d.value.case === 'dimParam') return d.value.value;
  return null;
}

function typeFrom(t: TypeProto): OnnxType {
  const out: OnnxType = { denotation: t.denotation };
  if (t.value.case === 'tensorType') {
    const { elemType, shape } = t.value.value;
    out.tensor = shape ? { elemType, shape: shape.dim.map(dimFrom) } : { elemType };
  }
  // Sequence, map, optional and sparse types are not interpreted: they travel as they are.
  const extra = extraOf(t, t.value.case === 'tensorType' ? fields('denotation', 'value') : TYPE_FIELDS);
  if (extra) out.extra = extra;
  return out;
}

function valueInfoFrom(v: ValueInfoProto): OnnxValueInfo {
  const out: OnnxValueInfo = { name: v.name, docString: v.docString };
  if (v.type) out.type = typeFrom(v.type);
  const extra = extraOf(v, VALUE_INFO_FIELDS);
  if (extra) out.extra = extra;
  return out;
}

const ATTRIBUTE_TYPES: readonly string[] = [
  '',
  'FLOAT',
  'INT',
  'STRING',
  'TENSOR',
  'GRAPH',
  'FLOATS',
  'INTS',
  'STRINGS',
  'TENSORS',
  'GRAPHS',
];

function attributeValueFrom(a: AttributeProto): OnnxAttributeValue {
  const kind = ATTRIBUTE_TYPES[a.type] ?? '';
  if (kind === 'FLOAT') return { type: kind, value: a.f };
  if (kind === 'INT') return { type: kind, value: a.i };
  if (kind === 'STRING') return { type: kind, value: utf8.decode(a.s) };
  if (kind === 'TENSOR' && a.t) return { type: kind, value: tensorFromProto(a.t) };
  if (kind === 'GRAPH' && a.g) return { type: kind, value: graphFromProto(a.g) };
  if (kind === 'FLOATS') return { type: kind, value: a.floats };
  if (kind === 'INTS') return { type: kind, value: a.ints };
  if (kind === 'STRINGS') return { type: kind, value: a.strings.map((s) => utf8.decode(s)) };
  if (kind === 'TENSORS') return { type: kind, value: a.tensors.map(tensorFromProto) };
  if (kind === 'GRAPHS') return { type: kind, value: a.graphs.map(graphFromProto) };
  if (a.type === AttributeProto_AttributeType.UNDEFINED || kind !== '')
    throw new RangeError(`attribute ${a.name}: type ${a.type} without its value`);
  return { type: 'OTHER', code: a.type };
}

function attributeFrom(a: AttributeProto): OnnxAttribute {
  const out: OnnxAttribute = { ...attributeValueFrom(a), name: a.name, docString: a.docString, refAttrName: a.refAttrName };
  const extra = extraOf(a, ATTRIBUTE_FIELDS);
  if (extra) out.extra = extra;
  return out;
}

function nodeFrom(n: NodeProto): OnnxNode {
  if (n.opType === '') throw new RangeError('node without op_type');
  const out: OnnxNode = {
    inputs: n.input,
    outputs: n.output,
    name: n.name,
    opType: n.opType,
    domain: n.domain,
    attributes: n.attribute.map(attributeFrom),
    docString: n.docString,
  };
  const extra = extraOf(n, NODE_FIELDS);
  if (extra) out.extra = extra;
  return out;
}

/** A `GraphProto` (a main graph or an If/Loop/Scan body) as a layer graph. */
export function graphFromProto(g: GraphProto): OnnxGraph {
  const out: OnnxGraph = {
    name: g.name,
    nodes: g.node.map(nodeFrom),
    initializers: g.initializer.map(tensorFromProto),
    docString: g.docString,
    inputs: g.input.map(valueInfoFrom),
    outputs: g.output.map(valueInfoFrom),
    valueInfo: g.valueInfo.map(valueInfoFrom),
  };
  const extra = extraOf(g, GRAPH_FIELDS);
  if (extra) out.extra = extra;
  return out;
}

function opsetFrom(o: OperatorSetIdProto): OnnxOpset {
  const out: OnnxOpset = { domain: o.domain, version: toNumber(o.version) };
  const extra = extraOf(o, OPSET_FIELDS);
  if (extra) out.extra = extra;
  return out;
}

/** A `ModelProto` as a layer model; throws a `RangeError` when it has no graph or is not an ONNX IR. */
export function modelFromProto(m: ModelProto): OnnxModel {
  if (!m.graph) throw new RangeError('no graph (ModelProto field 7)');
  const irVersion = toNumber(m.irVersion);
  if (irVersion < 3) throw new RangeError(`ir_version ${irVersion} is not an ONNX model`);
  const out: OnnxModel = {
    irVersion,
    producerName: m.producerName,
    producerVersion: m.producerVersion,
    domain: m.domain,
    modelVersion: toNumber(m.modelVersion),
    docString: m.docString,
    graph: graphFromProto(m.graph),
    opsets: m.opsetImport.map(opsetFrom),
    metadata: m.metadataProps.map(entryFrom),
  };
  const extra = extraOf(m, MODEL_FIELDS);
  if (extra) out.extra = extra;
  return out;
}
