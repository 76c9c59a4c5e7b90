/** Which nodes static QDQ quantizes, and which tensors it needs calibrated ranges for. */
import { initializerMap, intAttr, useCounts } from '../model/graph-tools.js';
import { DataType, type OnnxGraph, type OnnxNode, type OnnxTensor } from '@edge-fleet/onnx-codec';
import { neighbourTensors, preservesRange } from './qdq-neighbours.js';

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
    if (!producer || !preservesRange(producer)) return name;
    current = producer.inputs[0] ?? '';
  }
  return name;
}

/** The tensors quantized right after the op producing them: the targets' outputs and the fusable ops' outputs downstream. */
export function quantizedTensors(graph: OnnxGraph, targets: readonly QdqTarget[]): Set<string> {
  const outputs = new Set(targets.flatMap((t) => (t.output === undefined ? [] : [t.output])));
  return new Set([...outputs, ...neighbourTensors(graph, outputs)]);
}

/**
 * Whose calibrated range quantizes each of `quantized`: its own, or, after MaxPool/Resize/Reshape…,
 * its input's, so DQ → op → Q share one scale and onnxruntime runs the op on the 8-bit tensor.
 */
export function rangeSources(graph: OnnxGraph, quantized: ReadonlySet<string>): Map<string, string> {
  const sources = new Map<string, string>();
  // Graph order, so a chain MaxPool → Resize resolves to the tensor before the MaxPool.
  for (const node of graph.nodes) {
    const name = node.outputs[0] ?? '';
    if (!quantized.has(name)) continue;
    const upstream = preservesRange(node) ? paramSource(graph, node.inputs[0] ?? '', quantized) : undefined;
    sources.set(name, upstream !== undefined && quantized.has(upstream) ? (sources.get(upstream) ?? upstream) : name);
  }
  return sources;
}

/** Every tensor the plan needs a range for. */
export function calibrationTensors(graph: OnnxGraph, targets: readonly QdqTarget[]): string[] {
  const quantized = quantizedTensors(graph, targets);
  const names = new Set<string>(rangeSources(graph, quantized).values());
  for (const t of targets) names.add(paramSource(graph, t.node.inputs[0] ?? '', quantized));
  return [...names];
}
