/** Which nodes static QDQ quantizes, and which tensors it needs calibrated ranges for. */
import { initializerMap, intAttr, useCounts } from '../model/graph-tools.js';
import { DataType, type OnnxGraph, type OnnxNode, type OnnxTensor } from '../model/onnx-model.js';

/** One Conv/MatMul/Gemm to wrap in DQ → op → Q. */
export interface QdqTarget {
  node: OnnxNode;
  weight: OnnxTensor;
  /** Axis of the weight's output channels. */
  weightAxis: number;
  bias?: OnnxTensor;
  /**
   * The tensor quantized after the op: its output, or the Relu output when Relu is its only
   * reader. Absent when that is a graph output: model outputs stay float, unclipped by a range
   * that calibration may have underestimated.
   */
  output?: string;
}

/** Ops whose output range lies within their input's, so their output reuses the input's parameters. */
const RANGE_PRESERVING = new Set(['MaxPool', 'Reshape', 'Flatten', 'Transpose', 'Squeeze', 'Unsqueeze', 'Identity']);

function constFloat(t: OnnxTensor | undefined): t is OnnxTensor {
  return t !== undefined && t.dataType === DataType.FLOAT;
}

function weightAxis(node: OnnxNode, w: OnnxTensor): number | undefined {
  if (node.opType === 'Conv') return w.dims.length >= 3 ? 0 : undefined;
  if (w.dims.length !== 2) return undefined;
  if (node.opType === 'MatMul') return 1;
  if (intAttr(node, 'transA', 0) !== 0) return undefined;
  return intAttr(node, 'transB', 0) !== 0 ? 0 : 1;
}

function biasOf(node: OnnxNode, inits: Map<string, OnnxTensor>, channels: number): OnnxTensor | undefined | null {
  const name = node.inputs[2] ?? '';
  if (name === '' || node.opType === 'MatMul') return undefined;
  const b = inits.get(name);
  const beta = node.attributes.find((a) => a.name === 'beta');
  if (!constFloat(b) || b.dims.length !== 1 || b.dims[0] !== channels || (beta?.type === 'FLOAT' && beta.value !== 1)) return null;
  return b;
}

function outputTarget(graph: OnnxGraph, node: OnnxNode, uses: Map<string, number>): string | undefined {
  const isGraphOutput = (name: string): boolean => graph.outputs.some((o) => o.name === name);
  const out = node.outputs[0] ?? '';
  if (isGraphOutput(out)) return undefined;
  if (uses.get(out) !== 1) return out;
  const reader = graph.nodes.find((n) => n.inputs.includes(out));
  const relu = reader?.opType === 'Relu' && reader.domain === '' ? reader.outputs[0] : undefined;
  if (relu === undefined) return out;
  return isGraphOutput(relu) ? undefined : relu;
}

/** The eligible nodes, and why others were left in float. */
export function planQdq(graph: OnnxGraph): { targets: QdqTarget[]; skipped: string[] } {
  const inits = initializerMap(graph);
  const uses = useCounts(graph);
  const targets: QdqTarget[] = [];
  const skipped: string[] = [];
  for (const node of graph.nodes) {
    if (node.domain === '' && node.opType === 'ConvTranspose') {
      // Measured with onnxruntime 1.30: its CPU provider leaves DQ → ConvTranspose → Q unfused, so
      // quantizing would add Q/DQ work around a float kernel.
      skipped.push(`ConvTranspose ${node.name}: kept in float, onnxruntime's CPU provider has no integer ConvTranspose kernel`);
      continue;
    }
    if (node.domain !== '' || !['Conv', 'MatMul', 'Gemm'].includes(node.opType)) continue;
    const w = inits.get(node.inputs[1] ?? '');
    const axis = constFloat(w) ? weightAxis(node, w) : undefined;
    if (!constFloat(w) || axis === undefined) {
      skipped.push(`${node.opType} ${node.name}: weight is not a constant float tensor of a supported layout`);
      continue;
    }
    const bias = biasOf(node, inits, w.dims[axis] ?? 0);
    if (bias === null) {
      skipped.push(`${node.opType} ${node.name}: bias is not a constant [channels] vector with beta 1`);
      continue;
    }
    const output = outputTarget(graph, node, uses);
    targets.push({
      node,
      weight: w,
      weightAxis: axis,
      ...(bias ? { bias } : {}),
      ...(output === undefined ? {} : { output }),
    });
  }
  return { targets, skipped };
}

/**
 * The tensor whose calibrated range quantizes `name`: walks back through range-preserving ops to
 * a quantized op output, so DQ → MaxPool → Q carry one scale and onnxruntime can drop them.
 */
export function paramSource(graph: OnnxGraph, name: string, quantizedOutputs: ReadonlySet<string>): string {
  let current = name;
  for (let hops = 0; hops < 16; hops += 1) {
    if (quantizedOutputs.has(current)) return current;
    const producer = graph.nodes.find((n) => n.outputs[0] === current);
    if (!producer || producer.domain !== '' || !RANGE_PRESERVING.has(producer.opType)) return name;
    current = producer.inputs[0] ?? '';
  }
  return name;
}

/** The tensors quantized after their op. */
export function quantizedOutputs(targets: readonly QdqTarget[]): Set<string> {
  return new Set(targets.flatMap((t) => (t.output === undefined ? [] : [t.output])));
}

/** Every tensor the plan needs a range for. */
export function calibrationTensors(graph: OnnxGraph, targets: readonly QdqTarget[]): string[] {
  const outputs = quantizedOutputs(targets);
  const names = new Set<string>(outputs);
  for (const t of targets) names.add(paramSource(graph, t.node.inputs[0] ?? '', outputs));
  return [...names];
}
