/**
 * A light element-type inference: enough to know which values are float tensors, without a
 * full ONNX shape-inference engine. Declared value_info wins over inference.
 */
import { findAttr } from './graph-tools.js';
import { DataType, type OnnxGraph, type OnnxNode } from '@edge-fleet/onnx-codec';

const INT64_OUTPUT = new Set(['Shape', 'Size', 'ArgMax', 'ArgMin', 'NonZero', 'NonMaxSuppression']);
const BOOL_OUTPUT = new Set(['Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual', 'And', 'Or', 'Xor', 'Not', 'IsNaN', 'IsInf']);
const FLOAT_OUTPUT = new Set(['DequantizeLinear', 'DynamicQuantizeMatMul', 'MatMulNBits', 'MatMulIntegerToFloat']);

function attrElemType(node: OnnxNode, name: string): number | undefined {
  const a = findAttr(node, name);
  if (a?.type === 'INT') return Number(a.value);
  if (a?.type === 'TENSOR') return a.value.dataType;
  return undefined;
}

/** If/Loop/Scan outputs have the types their body declares (Loop's body starts with `cond`). */
function bodyOutputType(node: OnnxNode, index: number): number | undefined {
  const body = node.attributes.find((a) => a.type === 'GRAPH');
  if (body?.type !== 'GRAPH') return undefined;
  const offset = node.opType === 'Loop' ? 1 : 0;
  return body.value.outputs[index + offset]?.type?.tensor?.elemType;
}

/** The element type of output `index` of `node`, given the types known so far. */
function outputType(node: OnnxNode, index: number, types: Map<string, number>): number | undefined {
  const op = node.opType;
  if (op === 'If' || op === 'Loop' || op === 'Scan') return bodyOutputType(node, index);
  if (op === 'Cast') return attrElemType(node, 'to');
  if (op === 'Constant') return attrElemType(node, 'value') ?? DataType.FLOAT;
  if (op === 'ConstantOfShape') return attrElemType(node, 'value') ?? DataType.FLOAT;
  if (op === 'TopK' && index === 1) return DataType.INT64;
  if (op === 'MaxPool' && index === 1) return DataType.INT64;
  if (op === 'MatMulInteger' || op === 'ConvInteger') return DataType.INT32;
  if (op === 'QuantizeLinear') return types.get(node.inputs[2] ?? '') ?? DataType.UINT8;
  if (op === 'DynamicQuantizeLinear') return index === 1 ? DataType.FLOAT : DataType.UINT8;
  if (INT64_OUTPUT.has(op)) return DataType.INT64;
  if (BOOL_OUTPUT.has(op)) return DataType.BOOL;
  if (FLOAT_OUTPUT.has(op)) return DataType.FLOAT;
  if (op === 'Where') return types.get(node.inputs[1] ?? '');
  const first = node.inputs.find((i) => i !== '');
  return first === undefined ? undefined : types.get(first);
}

/** Element type of every value in the graph that can be determined; a body starts from its enclosing scope's. */
export function inferElemTypes(graph: OnnxGraph, outer: ReadonlyMap<string, number> = new Map()): Map<string, number> {
  const types = new Map<string, number>(outer);
  for (const v of [...graph.inputs, ...graph.outputs, ...graph.valueInfo]) {
    if (v.type?.tensor) types.set(v.name, v.type.tensor.elemType);
  }
  for (const t of graph.initializers) types.set(t.name, t.dataType);
  for (const node of graph.nodes) {
    node.outputs.forEach((o, i) => {
      if (o === '' || types.has(o)) return;
      const t = outputType(node, i, types);
      if (t !== undefined) types.set(o, t);
    });
  }
  return types;
}
