/**
 * INT8 dynamic: MatMul/Gemm weights become per-column symmetric int8; activations are
 * quantized at run time by com.microsoft `DynamicQuantizeMatMul`
 * (onnxruntime docs/ContribOperators.md#com.microsoft.DynamicQuantizeMatMul).
 */
import { Q_RANGE, REDUCED_RANGE, quantizePerChannel, type QRange } from '../math/quant-math.js';
import { NameScope, cloneModel, ensureOpset, floatRaw, initializerMap, noTargetsReason, pruneInitializers } from '../model/graph-tools.js';
import { DataType, makeNode, rawTensor, type OnnxGraph, type OnnxModel, type OnnxNode } from '@edge-fleet/onnx-codec';
import { linearLayer, type LinearLayer } from './linear-weights.js';
import type { TransformResult } from './transform.js';

/** Options of `toInt8Dynamic`. */
export interface Int8DynamicOptions {
  /**
   * Quantize weights to 7 bits (±63), default true: the u8×s8 kernels of x86 CPUs without VNNI
   * sum pairs of products in int16 and saturate with full-range weights (measured: cosine 0.955
   * instead of 0.99996 on the recurrent fixture; onnxruntime quantization docs, "reduce_range").
   */
  reduceRange?: boolean;
}

/** Per-column int8 weights `[K, N]` and their scales. */
export function quantizeColumns(layer: LinearLayer, range: QRange): { q: Int8Array; scales: Float32Array } {
  const { weight, k, n } = layer;
  const byColumn = quantizePerChannel(n, k, (c, i) => weight[i * n + c] ?? 0, range);
  const q = new Int8Array(k * n);
  for (let c = 0; c < n; c += 1) {
    for (let i = 0; i < k; i += 1) q[i * n + c] = byColumn.values[c * k + i] ?? 0;
  }
  return { q, scales: byColumn.scales.map((s) => s * layer.alpha) };
}

function replaceLayer(graph: OnnxGraph, names: NameScope, layer: LinearLayer, range: QRange): OnnxNode[] {
  const { node, k, n } = layer;
  const base = node.name || node.outputs[0] || 'linear';
  const { q, scales } = quantizeColumns(layer, range);
  const wName = names.fresh(`${base}.weight_int8`);
  const sName = names.fresh(`${base}.weight_scale`);
  graph.initializers.push(rawTensor(wName, DataType.INT8, [k, n], new Uint8Array(q.buffer)));
  graph.initializers.push(rawTensor(sName, DataType.FLOAT, [n], floatRaw(scales)));
  const inputs = [node.inputs[0] ?? '', wName, sName, ''];
  if (layer.bias) {
    const bName = names.fresh(`${base}.bias`);
    graph.initializers.push(rawTensor(bName, DataType.FLOAT, [n], floatRaw(layer.bias)));
    inputs.push(bName);
  }
  const out = node.outputs[0] ?? '';
  if (!layer.biasInput) return [makeNode('DynamicQuantizeMatMul', inputs, [out], names.fresh(base), [], 'com.microsoft')];
  const product = names.fresh(`${out}_product`);
  return [
    makeNode('DynamicQuantizeMatMul', inputs, [product], names.fresh(base), [], 'com.microsoft'),
    makeNode('Add', [product, layer.biasInput], [out], names.fresh(`${base}_bias_add`)),
  ];
}

/** Quantizes every eligible MatMul/Gemm; not applicable when there is none. */
export function toInt8Dynamic(model: OnnxModel, options: Int8DynamicOptions = {}): TransformResult {
  const out = cloneModel(model);
  const graph = out.graph;
  const inits = initializerMap(graph);
  const names = new NameScope(graph);
  const range = (options.reduceRange ?? true) ? REDUCED_RANGE : Q_RANGE.int8Symmetric;
  const notes: string[] = [];
  let quantized = 0;
  graph.nodes = graph.nodes.flatMap((node) => {
    if (node.domain !== '' || (node.opType !== 'MatMul' && node.opType !== 'Gemm')) return [node];
    const layer = linearLayer(node, inits);
    if (typeof layer === 'string') {
      notes.push(`${node.opType} ${node.name}: kept in float (${layer})`);
      return [node];
    }
    quantized += 1;
    return replaceLayer(graph, names, layer, range);
  });
  if (quantized === 0) {
    return {
      notApplicable: notes.length
        ? `no MatMul/Gemm with constant weights: ${notes.join('; ')}`
        : noTargetsReason(model.graph, ['MatMul', 'Gemm']),
    };
  }
  pruneInitializers(graph);
  ensureOpset(out, 'com.microsoft', 1);
  notes.unshift(
    `${quantized} MatMul/Gemm node(s) → DynamicQuantizeMatMul (int8 weights per column${range === REDUCED_RANGE ? ', 7-bit' : ''})`,
  );
  return { model: out, notes };
}
