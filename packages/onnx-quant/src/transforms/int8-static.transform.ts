/**
 * INT8 static, QDQ format: each Conv/MatMul/Gemm reads DequantizeLinear'd inputs (int8 weights
 * per output channel, activations per tensor with calibrated ranges, int32 bias at scale
 * input_scale × weight_scale) and its output passes through QuantizeLinear → DequantizeLinear.
 * onnxruntime's QDQ transformers fuse DQ → op → Q into QLinearConv / QLinearMatMul / QGemm
 * (https://onnxruntime.ai/docs/performance/model-optimizations/quantization.html#onnx-quantization-representation-format).
 */
import type { TensorRange } from '../calibration/calibrate.js';
import { quantizeAlongAxis, quantizeBias } from '../math/per-axis.js';
import { Q_RANGE, REDUCED_RANGE, asymmetricParams, type QParams, type QRange } from '../math/quant-math.js';
import { NameScope, cloneModel, floatRaw, floatValues, int32Raw, noTargetsReason, pruneInitializers } from '../model/graph-tools.js';
import { DataType, makeAttribute, makeNode, rawTensor, type OnnxGraph, type OnnxModel, type OnnxNode } from '@edge-fleet/onnx-codec';
import { paramSource, planQdq, quantizedTensors, rangeSources, type QdqTarget } from './qdq-plan.js';
import type { CalibrationMethod, TransformResult } from './transform.js';

/** Options of `toInt8Static`. */
export interface Int8StaticOptions {
  /** Activation type: `uint8` (asymmetric, default) or `int8` (asymmetric). Weights are always int8. */
  activationType?: 'uint8' | 'int8';
  /** 7-bit weights (default true), against u8×s8 saturation on x86 CPUs without VNNI (see `Int8DynamicOptions`). */
  reduceRange?: boolean;
  /** Activation calibration: `auto` (default) builds with min/max and percentile and keeps the closer to FP32 on the calibration inputs. */
  calibration?: 'auto' | CalibrationMethod;
}

class QdqWriter {
  readonly names: NameScope;
  private readonly pairs = new Map<string, string>();

  constructor(
    private readonly graph: OnnxGraph,
    private readonly params: ReadonlyMap<string, QParams>,
    private readonly activation: { type: number; range: QRange },
    private readonly weightRange: QRange,
  ) {
    this.names = new NameScope(graph);
  }

  private scalarParams(base: string, p: QParams): [string, string] {
    const s = this.names.fresh(`${base}_scale`);
    const z = this.names.fresh(`${base}_zero_point`);
    const zp = this.activation.type === DataType.UINT8 ? Uint8Array.of(p.zeroPoint) : new Uint8Array(Int8Array.of(p.zeroPoint).buffer);
    this.graph.initializers.push(rawTensor(s, DataType.FLOAT, [], floatRaw(Float32Array.of(p.scale))));
    this.graph.initializers.push(rawTensor(z, this.activation.type, [], zp));
    return [s, z];
  }

  /** Q → DQ of `value` (with the parameters of `source`); returns the dequantized name. */
  pair(value: string, source: string, out: OnnxNode[], dqName?: string): string {
    const cached = this.pairs.get(value);
    if (cached !== undefined) return cached;
    const p = this.params.get(source);
    if (!p) throw new Error(`no calibrated range for ${source}`);
    const [s, z] = this.scalarParams(source, p);
    const q = this.names.fresh(`${value}_quantized`);
    const dq = dqName ?? this.names.fresh(`${value}_dequantized`);
    out.push(makeNode('QuantizeLinear', [value, s, z], [q], this.names.fresh(`${value}_QuantizeLinear`)));
    out.push(makeNode('DequantizeLinear', [q, s, z], [dq], this.names.fresh(`${value}_DequantizeLinear`)));
    this.pairs.set(value, dq);
    return dq;
  }

  /** Int8 weight + per-channel DQ; returns the dequantized weight's name and its scales. */
  weight(t: QdqTarget, out: OnnxNode[]): { name: string; scales: Float32Array } {
    const w = t.weight;
    const { values, scales } = quantizeAlongAxis(floatValues(w), w.dims, t.weightAxis, this.weightRange);
    const q = this.names.fresh(`${w.name}_quantized`);
    const s = this.names.fresh(`${w.name}_scale`);
    const z = this.names.fresh(`${w.name}_zero_point`);
    this.graph.initializers.push(rawTensor(q, DataType.INT8, w.dims, new Uint8Array(values.buffer)));
    this.graph.initializers.push(rawTensor(s, DataType.FLOAT, [scales.length], floatRaw(scales)));
    this.graph.initializers.push(rawTensor(z, DataType.INT8, [scales.length], new Uint8Array(scales.length)));
    const name = this.names.fresh(`${w.name}_dequantized`);
    const axis = makeAttribute('axis', { type: 'INT', value: BigInt(t.weightAxis) });
    out.push(makeNode('DequantizeLinear', [q, s, z], [name], this.names.fresh(`${w.name}_DequantizeLinear`), [axis]));
    return { name, scales };
  }

  /** Int32 bias + DQ at scale input_scale × weight_scale. */
  bias(t: QdqTarget, inputScale: number, weightScales: Float32Array, out: OnnxNode[]): string | undefined {
    if (!t.bias) return undefined;
    const b = t.bias;
    const { values, scales } = quantizeBias(floatValues(b), inputScale, weightScales);
    const q = this.names.fresh(`${b.name}_quantized`);
    const s = this.names.fresh(`${b.name}_scale`);
    this.graph.initializers.push(rawTensor(q, DataType.INT32, b.dims, int32Raw(values)));
    this.graph.initializers.push(rawTensor(s, DataType.FLOAT, [scales.length], floatRaw(scales)));
    const name = this.names.fresh(`${b.name}_dequantized`);
    const axis = makeAttribute('axis', { type: 'INT', value: 0n });
    out.push(makeNode('DequantizeLinear', [q, s], [name], this.names.fresh(`${b.name}_DequantizeLinear`), [axis]));
    return name;
  }
}

function paramsFor(ranges: ReadonlyMap<string, TensorRange>, range: QRange): Map<string, QParams> {
  const params = new Map<string, QParams>();
  for (const [name, r] of ranges)
    if (Number.isFinite(r.min) && Number.isFinite(r.max)) params.set(name, asymmetricParams(r.min, r.max, range));
  return params;
}

/** Rewires one target's inputs through DQ nodes (pushed to `out` before the node). */
function rewireInputs(
  graph: OnnxGraph,
  t: QdqTarget,
  writer: QdqWriter,
  outputs: ReadonlySet<string>,
  params: ReadonlyMap<string, QParams>,
  out: OnnxNode[],
): void {
  const x = t.node.inputs[0] ?? '';
  const source = paramSource(graph, x, outputs);
  const xScale = params.get(source)?.scale ?? 1;
  const xDq = outputs.has(x) ? x : writer.pair(x, source, out);
  const w = writer.weight(t, out);
  const b = writer.bias(t, xScale, w.scales, out);
  t.node.inputs[0] = xDq;
  t.node.inputs[1] = w.name;
  if (b !== undefined) t.node.inputs[2] = b;
}

/** Static QDQ quantization with the calibrated `ranges` (see `calibrationTensors`). */
export function toInt8Static(model: OnnxModel, ranges: ReadonlyMap<string, TensorRange>, options: Int8StaticOptions = {}): TransformResult {
  const m = cloneModel(model);
  const graph = m.graph;
  const { targets, skipped } = planQdq(graph);
  if (targets.length === 0)
    return { notApplicable: skipped.length ? skipped.join('; ') : noTargetsReason(model.graph, ['Conv', 'MatMul', 'Gemm']) };
  const uint8 = (options.activationType ?? 'uint8') === 'uint8';
  const activation = { type: uint8 ? DataType.UINT8 : DataType.INT8, range: uint8 ? Q_RANGE.uint8 : Q_RANGE.int8 };
  const params = paramsFor(ranges, activation.range);
  const writer = new QdqWriter(graph, params, activation, (options.reduceRange ?? true) ? REDUCED_RANGE : Q_RANGE.int8Symmetric);
  const outputs = quantizedTensors(graph, targets);
  const sources = rangeSources(graph, outputs);
  const neighbours = outputs.size - targets.filter((t) => t.output !== undefined).length;
  // Each quantized tensor is produced under a new name; Q → DQ restores the original name, so every reader gets the DQ.
  const renamed = new Map<string, string>();
  for (const name of outputs) {
    const producer = graph.nodes.find((n) => n.outputs.includes(name));
    const inner = writer.names.fresh(`${name}_float`);
    if (producer) producer.outputs = producer.outputs.map((o) => (o === name ? inner : o));
    renamed.set(inner, name);
  }
  const nodes: OnnxNode[] = [];
  for (const node of graph.nodes) {
    const target = targets.find((t) => t.node === node);
    if (target) rewireInputs(graph, target, writer, outputs, params, nodes);
    nodes.push(node);
    for (const o of node.outputs) {
      const original = renamed.get(o);
      if (original !== undefined) writer.pair(o, sources.get(original) ?? original, nodes, original);
    }
  }
  graph.nodes = nodes;
  pruneInitializers(graph);
  const kind = uint8 ? 'uint8' : 'int8';
  return {
    model: m,
    notes: [
      `${targets.length} node(s) in QDQ form (weights int8 per channel, activations ${kind} per tensor)`,
      ...(neighbours > 0
        ? [
            `${neighbours} tensor(s) after Add/Mul/Concat/pooling/Resize/Sigmoid/LeakyRelu quantized so onnxruntime keeps those ops in integer`,
          ]
        : []),
      ...skipped,
    ],
  };
}
