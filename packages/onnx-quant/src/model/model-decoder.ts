/** Decodes ONNX `ModelProto` bytes into an `OnnxModel`. Field numbers follow onnx/onnx.proto. */
import { OnnxQuantError } from '../errors.js';
import { ProtoCursor, WIRE, readFields, readRepeated } from '../proto/proto-cursor.js';
import type {
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
import { rawTensor } from './onnx-model.js';

/** `[declared wire type, reader, accepts the packed form]`. */
type Handler = [number, (c: ProtoCursor, wireType: number) => void, boolean?];

/** Reads a message whose known fields have handlers; the others are kept as raw bytes. */
function readMessage(bytes: Uint8Array, handlers: Record<number, Handler | undefined>): Uint8Array[] {
  return readFields(bytes, (field, wireType, c) => {
    const h = handlers[field];
    if (!h) return false;
    const [expected, handle, packed = false] = h;
    if (wireType !== expected && !(packed && wireType === WIRE.len)) {
      throw new RangeError(`field ${field} has wire type ${wireType}, expected ${expected}`);
    }
    handle(c, wireType);
    return true;
  });
}

const { varint: V, len: L, fixed32: F32, fixed64: F64 } = WIRE;

/** A handler for a repeated scalar field, packed or not. */
function repeated<T>(out: T[], wireType: number, one: (c: ProtoCursor) => T): Handler {
  return [wireType, (c, wt) => readRepeated(wt, c, out, one), true];
}

function readEntry(bytes: Uint8Array): StringEntry {
  const e: StringEntry = { key: '', value: '' };
  readMessage(bytes, { 1: [L, (c) => (e.key = c.string())], 2: [L, (c) => (e.value = c.string())] });
  return e;
}

/** Decodes a `TensorProto`. */
export function decodeTensor(bytes: Uint8Array): OnnxTensor {
  const t = rawTensor('', 0, [], new Uint8Array(0));
  delete t.rawData;
  t.unknown = readMessage(bytes, {
    1: repeated(t.dims, V, (c) => c.int()),
    2: [V, (c) => (t.dataType = c.int())],
    4: repeated(t.floatData, F32, (c) => c.float()),
    5: repeated(t.int32Data, V, (c) => c.int()),
    6: [L, (c) => t.stringData.push(c.bytes().slice())],
    7: repeated(t.int64Data, V, (c) => c.int64()),
    8: [L, (c) => (t.name = c.string())],
    9: [L, (c) => (t.rawData = c.bytes().slice())],
    10: repeated(t.doubleData, F64, (c) => c.double()),
    11: repeated(t.uint64Data, V, (c) => c.varintBig()),
    12: [L, (c) => (t.docString = c.string())],
    13: [L, (c) => t.externalData.push(readEntry(c.bytes()))],
    14: [V, (c) => (t.dataLocation = c.int())],
  });
  return t;
}

function readDim(bytes: Uint8Array): OnnxDim {
  let dim: OnnxDim = null;
  readMessage(bytes, { 1: [V, (c) => (dim = c.int())], 2: [L, (c) => (dim = c.string())] });
  return dim;
}

function readShape(bytes: Uint8Array): OnnxDim[] {
  const dims: OnnxDim[] = [];
  readMessage(bytes, { 1: [L, (c) => dims.push(readDim(c.bytes()))] });
  return dims;
}

function readTensorType(bytes: Uint8Array): { elemType: number; shape?: OnnxDim[] } {
  const tensor: { elemType: number; shape?: OnnxDim[] } = { elemType: 0 };
  readMessage(bytes, {
    1: [V, (c) => (tensor.elemType = c.int())],
    2: [L, (c) => (tensor.shape = readShape(c.bytes()))],
  });
  return tensor;
}

function readType(bytes: Uint8Array): OnnxType {
  const type: OnnxType = { denotation: '', unknown: [] };
  type.unknown = readMessage(bytes, {
    1: [L, (c) => (type.tensor = readTensorType(c.bytes()))],
    6: [L, (c) => (type.denotation = c.string())],
  });
  return type;
}

function readValueInfo(bytes: Uint8Array): OnnxValueInfo {
  const v: OnnxValueInfo = { name: '', docString: '', unknown: [] };
  v.unknown = readMessage(bytes, {
    1: [L, (c) => (v.name = c.string())],
    2: [L, (c) => (v.type = readType(c.bytes()))],
    3: [L, (c) => (v.docString = c.string())],
  });
  return v;
}

const ATTRIBUTE_TYPES = ['', 'FLOAT', 'INT', 'STRING', 'TENSOR', 'GRAPH', 'FLOATS', 'INTS', 'STRINGS', 'TENSORS', 'GRAPHS'];

/** Raw attribute fields, before the `type` field decides which one is the value. */
interface AttributeFields {
  f: number;
  i: bigint;
  s: string;
  t?: OnnxTensor;
  g?: OnnxGraph;
  floats: number[];
  ints: bigint[];
  strings: string[];
  tensors: OnnxTensor[];
  graphs: OnnxGraph[];
}

function attributeValue(code: number, a: AttributeFields): OnnxAttributeValue {
  const kind = ATTRIBUTE_TYPES[code] ?? '';
  if (kind === 'FLOAT') return { type: 'FLOAT', value: a.f };
  if (kind === 'INT') return { type: 'INT', value: a.i };
  if (kind === 'STRING') return { type: 'STRING', value: a.s };
  if (kind === 'TENSOR' && a.t) return { type: 'TENSOR', value: a.t };
  if (kind === 'GRAPH' && a.g) return { type: 'GRAPH', value: a.g };
  if (kind === 'FLOATS') return { type: 'FLOATS', value: a.floats };
  if (kind === 'INTS') return { type: 'INTS', value: a.ints };
  if (kind === 'STRINGS') return { type: 'STRINGS', value: a.strings };
  if (kind === 'TENSORS') return { type: 'TENSORS', value: a.tensors };
  if (kind === 'GRAPHS') return { type: 'GRAPHS', value: a.graphs };
  if (code === 0 || kind !== '') throw new RangeError(`attribute type ${code} without its value`);
  return { type: 'OTHER', code };
}

function readAttribute(bytes: Uint8Array): OnnxAttribute {
  const a: AttributeFields = { f: 0, i: 0n, s: '', floats: [], ints: [], strings: [], tensors: [], graphs: [] };
  const meta = { name: '', docString: '', refAttrName: '', code: 0 };
  const unknown = readMessage(bytes, {
    1: [L, (c) => (meta.name = c.string())],
    2: [F32, (c) => (a.f = c.float())],
    3: [V, (c) => (a.i = c.int64())],
    4: [L, (c) => (a.s = c.string())],
    5: [L, (c) => (a.t = decodeTensor(c.bytes()))],
    6: [L, (c) => (a.g = decodeGraph(c.bytes()))],
    7: repeated(a.floats, F32, (c) => c.float()),
    8: repeated(a.ints, V, (c) => c.int64()),
    9: [L, (c) => a.strings.push(c.string())],
    10: [L, (c) => a.tensors.push(decodeTensor(c.bytes()))],
    11: [L, (c) => a.graphs.push(decodeGraph(c.bytes()))],
    13: [L, (c) => (meta.docString = c.string())],
    20: [V, (c) => (meta.code = c.int())],
    21: [L, (c) => (meta.refAttrName = c.string())],
  });
  const value = attributeValue(meta.code, a);
  return { ...value, name: meta.name, docString: meta.docString, refAttrName: meta.refAttrName, unknown };
}

function readNode(bytes: Uint8Array): OnnxNode {
  const n: OnnxNode = {
    inputs: [],
    outputs: [],
    name: '',
    opType: '',
    domain: '',
    attributes: [],
    docString: '',
    unknown: [],
  };
  n.unknown = readMessage(bytes, {
    1: [L, (c) => n.inputs.push(c.string())],
    2: [L, (c) => n.outputs.push(c.string())],
    3: [L, (c) => (n.name = c.string())],
    4: [L, (c) => (n.opType = c.string())],
    5: [L, (c) => n.attributes.push(readAttribute(c.bytes()))],
    6: [L, (c) => (n.docString = c.string())],
    7: [L, (c) => (n.domain = c.string())],
  });
  if (n.opType === '') throw new RangeError('node without op_type');
  return n;
}

/** Decodes a `GraphProto`. */
export function decodeGraph(bytes: Uint8Array): OnnxGraph {
  const g: OnnxGraph = {
    name: '',
    nodes: [],
    initializers: [],
    docString: '',
    inputs: [],
    outputs: [],
    valueInfo: [],
    unknown: [],
  };
  g.unknown = readMessage(bytes, {
    1: [L, (c) => g.nodes.push(readNode(c.bytes()))],
    2: [L, (c) => (g.name = c.string())],
    5: [L, (c) => g.initializers.push(decodeTensor(c.bytes()))],
    10: [L, (c) => (g.docString = c.string())],
    11: [L, (c) => g.inputs.push(readValueInfo(c.bytes()))],
    12: [L, (c) => g.outputs.push(readValueInfo(c.bytes()))],
    13: [L, (c) => g.valueInfo.push(readValueInfo(c.bytes()))],
  });
  return g;
}

function readOpset(bytes: Uint8Array): OnnxOpset {
  const o: OnnxOpset = { domain: '', version: 0 };
  readMessage(bytes, { 1: [L, (c) => (o.domain = c.string())], 2: [V, (c) => (o.version = c.int())] });
  return o;
}

function readModel(bytes: Uint8Array): OnnxModel {
  let graph: OnnxGraph | undefined;
  const m: Omit<OnnxModel, 'graph'> = {
    irVersion: 0,
    producerName: '',
    producerVersion: '',
    domain: '',
    modelVersion: 0,
    docString: '',
    opsets: [],
    metadata: [],
    unknown: [],
  };
  m.unknown = readMessage(bytes, {
    1: [V, (c) => (m.irVersion = c.int())],
    2: [L, (c) => (m.producerName = c.string())],
    3: [L, (c) => (m.producerVersion = c.string())],
    4: [L, (c) => (m.domain = c.string())],
    5: [V, (c) => (m.modelVersion = c.int())],
    6: [L, (c) => (m.docString = c.string())],
    7: [L, (c) => (graph = decodeGraph(c.bytes()))],
    8: [L, (c) => m.opsets.push(readOpset(c.bytes()))],
    14: [L, (c) => m.metadata.push(readEntry(c.bytes()))],
  });
  if (!graph) throw new RangeError('no graph (ModelProto field 7)');
  if (m.irVersion < 3) throw new RangeError(`ir_version ${m.irVersion} is not an ONNX model`);
  return { ...m, graph };
}

/**
 * Decodes ONNX model bytes. Throws `OnnxQuantError('invalid_onnx')` when the bytes are not a
 * protobuf `ModelProto` with a graph; validity checks beyond parsing are in `checkModel`.
 */
export function decodeModel(bytes: Uint8Array): OnnxModel {
  try {
    return readModel(bytes);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new OnnxQuantError('invalid_onnx', `not a valid ONNX model: ${why}`, { cause: err });
  }
}
