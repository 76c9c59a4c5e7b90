/** Reading the constant weight of a MatMul/Gemm node as a `[K, N]` float matrix. */
import { floatAttr, floatValues, intAttr } from '../model/graph-tools.js';
import { DataType, type OnnxNode, type OnnxTensor } from '@edge-fleet/onnx-codec';

/** A MatMul/Gemm whose right-hand side is a constant 2-D float matrix. */
export interface LinearLayer {
  node: OnnxNode;
  /** Weights in `[K, N]` row-major order (Gemm `transB` already undone). */
  weight: Float32Array;
  k: number;
  n: number;
  /** Gemm `alpha` (1 for MatMul). */
  alpha: number;
  /** `beta * C` broadcast to `[N]` when C is a constant that broadcasts along rows. */
  bias?: Float32Array;
  /** A non-constant Gemm C to add after the product (only when beta is 1). */
  biasInput?: string;
}

/** The layer, or why this node cannot be treated as `A · W (+ b)` with constant W. */
export function linearLayer(node: OnnxNode, inits: ReadonlyMap<string, OnnxTensor>): LinearLayer | string {
  const w = inits.get(node.inputs[1] ?? '');
  if (!w) return 'weight is not a constant initializer';
  if (w.dataType !== DataType.FLOAT || w.dims.length !== 2) return 'weight is not a 2-D float32 tensor';
  const [d0 = 0, d1 = 0] = w.dims;
  const values = floatValues(w);
  if (node.opType === 'MatMul') return { node, weight: values, k: d0, n: d1, alpha: 1 };
  if (intAttr(node, 'transA', 0) !== 0) return 'Gemm with transA is not quantized';
  const transB = intAttr(node, 'transB', 0) !== 0;
  const [k, n] = transB ? [d1, d0] : [d0, d1];
  const weight = transB ? transpose(values, d0, d1) : values;
  const layer: LinearLayer = { node, weight, k, n, alpha: floatAttr(node, 'alpha', 1) };
  return withBias(layer, node, inits);
}

function withBias(layer: LinearLayer, node: OnnxNode, inits: ReadonlyMap<string, OnnxTensor>): LinearLayer | string {
  const cName = node.inputs[2] ?? '';
  if (cName === '') return layer;
  const beta = floatAttr(node, 'beta', 1);
  const c = inits.get(cName);
  if (!c) return beta === 1 ? { ...layer, biasInput: cName } : 'Gemm with a computed C and beta ≠ 1 is not quantized';
  if (c.dataType !== DataType.FLOAT) return 'Gemm bias is not float32';
  const cv = floatValues(c);
  const rowBroadcast = c.dims.length <= 1 || c.dims.slice(0, -1).every((d) => d === 1);
  if (!rowBroadcast || (cv.length !== layer.n && cv.length !== 1)) return 'Gemm bias does not broadcast along rows';
  const bias = Float32Array.from({ length: layer.n }, (_, i) => beta * (cv.length === 1 ? (cv[0] ?? 0) : (cv[i] ?? 0)));
  return { ...layer, bias };
}

/** Transposes a row-major `[rows, cols]` matrix. */
export function transpose(values: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(values.length);
  for (let r = 0; r < rows; r += 1) {
    for (let c = 0; c < cols; c += 1) out[c * rows + r] = values[r * cols + c] ?? 0;
  }
  return out;
}
