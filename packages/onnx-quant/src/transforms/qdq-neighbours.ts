/**
 * Tensors around the ops that onnxruntime 1.30's QDQ transformers keep in integer arithmetic when
 * DQ → op → Q wraps them (onnxruntime/core/optimizer/qdq_transformer/selectors_actions): unary
 * ops become QLinearSigmoid / QLinearLeakyRelu / QLinearAveragePool / QLinearGlobalAveragePool,
 * Add and Mul become QLinearAdd / QLinearMul, Concat becomes QLinearConcat, and MaxPool / Resize
 * run on the 8-bit tensor when input and output share one scale (see `rangeSources`). Left float,
 * each of them costs a dequantize before and a quantize after in the optimized graph.
 */
import { findAttr, initializerMap } from '../model/graph-tools.js';
import { DataType, type OnnxGraph, type OnnxNode } from '@edge-fleet/onnx-codec';
import { inferElemTypes } from '../model/type-map.js';

/** Which inputs carry data: the first (the rest are sizes, scales…) or all of them. */
const FUSED_AROUND: ReadonlyMap<string, 'first' | 'all'> = new Map([
  ['Sigmoid', 'first'],
  ['LeakyRelu', 'first'],
  ['AveragePool', 'first'],
  ['GlobalAveragePool', 'first'],
  ['MaxPool', 'first'],
  ['Resize', 'first'],
  ['Add', 'all'],
  ['Mul', 'all'],
  ['Concat', 'all'],
]);

/** Ops that only select or move values, so their output's range lies within their input's. */
const RANGE_PRESERVING = new Set(['MaxPool', 'Reshape', 'Flatten', 'Transpose', 'Squeeze', 'Unsqueeze', 'Identity']);

/** True when `node`'s output reuses its input's quantization parameters (cubic Resize overshoots). */
export function preservesRange(node: OnnxNode): boolean {
  if (node.domain !== '') return false;
  if (node.opType === 'Resize') {
    const mode = findAttr(node, 'mode');
    return mode?.type !== 'STRING' || mode.value !== 'cubic';
  }
  return RANGE_PRESERVING.has(node.opType);
}

function dataInputs(node: OnnxNode, kind: 'first' | 'all'): string[] {
  return kind === 'first' ? [node.inputs[0] ?? ''] : node.inputs.filter((n) => n !== '');
}

/**
 * The outputs of those ops whose every data input is already quantized (starting from the
 * Conv/MatMul/Gemm outputs in `seed`, in graph order). An op reading a float tensor stays float:
 * quantizing that input would add a QuantizeLinear that onnxruntime cannot fuse away (measured:
 * HardSwish's Mul on the float HardSigmoid raised the detector's optimized Q/DQ count 91 → 174).
 * Graph outputs stay float, and MaxPool returning indices is left alone.
 */
export function neighbourTensors(graph: OnnxGraph, seed: ReadonlySet<string>): Set<string> {
  const inits = initializerMap(graph);
  const types = inferElemTypes(graph);
  const graphOutputs = new Set(graph.outputs.map((o) => o.name));
  const quantized = new Set(seed);
  const added = new Set<string>();
  for (const node of graph.nodes) {
    const kind = node.domain === '' ? FUSED_AROUND.get(node.opType) : undefined;
    if (kind === undefined || node.outputs.filter((o) => o !== '').length !== 1) continue;
    const out = node.outputs[0] ?? '';
    const floatOut = types.get(out) === DataType.FLOAT && !inits.has(out) && !graphOutputs.has(out);
    if (!floatOut || !dataInputs(node, kind).every((n) => quantized.has(n))) continue;
    quantized.add(out);
    added.add(out);
  }
  return added;
}
