/**
 * Folds an inference BatchNormalization into the Conv (or ConvTranspose) that feeds it, as
 * onnxruntime does at load time and its quantization tool does before quantizing: exported
 * vision nets (PaddleOCR's MobileNetV3) keep BatchNormalization as its own node, and a QDQ Conv
 * followed by a float BatchNormalization cannot become one integer kernel.
 *   y = gamma · (W∗x + b − mean) / √(var + ε) + beta  =  (W·k)∗x + ((b − mean)·k + beta),  k = gamma / √(var + ε)
 */
import { floatAttr, floatRaw, floatValues, initializerMap, intAttr, pruneInitializers, useCounts } from './graph-tools.js';
import { DataType, rawTensor, type OnnxGraph, type OnnxNode, type OnnxTensor } from '@edge-fleet/onnx-codec';

function vector(t: OnnxTensor | undefined, length: number): Float32Array | undefined {
  if (t?.dataType !== DataType.FLOAT || t.dims.length !== 1 || t.dims[0] !== length) return undefined;
  return floatValues(t);
}

/** The output-channel axis of the weight, when folding along it is a per-element scale. */
function channelAxis(conv: OnnxNode, w: OnnxTensor): number | undefined {
  if (w.dims.length < 3) return undefined;
  if (conv.opType === 'Conv') return 0;
  // ConvTranspose weights are [C_in, C_out / group, k…]: with groups the out channels interleave.
  return conv.opType === 'ConvTranspose' && intAttr(conv, 'group', 1) === 1 ? 1 : undefined;
}

/** Scales `w` along `axis` by `k[c]`. */
function scaleAlong(w: Float32Array, dims: readonly number[], axis: number, k: Float32Array): Float32Array {
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const channels = dims[axis] ?? 1;
  return w.map((v, i) => v * (k[Math.floor(i / inner) % channels] ?? 1));
}

interface Fold {
  conv: OnnxNode;
  bn: OnnxNode;
  weight: OnnxTensor;
  bias: Float32Array;
}

function planFold(graph: OnnxGraph, bn: OnnxNode, inits: Map<string, OnnxTensor>, uses: Map<string, number>): Fold | undefined {
  const x = bn.inputs[0] ?? '';
  const conv = graph.nodes.find((n) => n.outputs[0] === x && (n.opType === 'Conv' || n.opType === 'ConvTranspose') && n.domain === '');
  const w = inits.get(conv?.inputs[1] ?? '');
  if (!conv || w?.dataType !== DataType.FLOAT || uses.get(x) !== 1 || bn.outputs.length !== 1 || (uses.get(w.name) ?? 0) !== 1)
    return undefined;
  const axis = channelAxis(conv, w);
  const channels = axis === undefined ? 0 : (w.dims[axis] ?? 0);
  const [gamma, beta, mean, variance] = [1, 2, 3, 4].map((i) => vector(inits.get(bn.inputs[i] ?? ''), channels));
  if (axis === undefined || !gamma || !beta || !mean || !variance) return undefined;
  const biasName = conv.inputs[2] ?? '';
  const oldBias = biasName === '' ? new Float32Array(channels) : vector(inits.get(biasName), channels);
  if (!oldBias || (biasName !== '' && (uses.get(biasName) ?? 0) !== 1)) return undefined;
  const eps = floatAttr(bn, 'epsilon', 1e-5);
  const k = gamma.map((g, c) => g / Math.sqrt((variance[c] ?? 0) + eps));
  const weight = rawTensor(w.name, DataType.FLOAT, w.dims, floatRaw(scaleAlong(floatValues(w), w.dims, axis, k)));
  const bias = oldBias.map((b, c) => (b - (mean[c] ?? 0)) * (k[c] ?? 0) + (beta[c] ?? 0));
  return { conv, bn, weight, bias };
}

/** Folds every foldable BatchNormalization of the main graph in place; returns how many. */
export function foldBatchNorms(graph: OnnxGraph, freshName: (base: string) => string): number {
  const inits = initializerMap(graph);
  const uses = useCounts(graph);
  const folds = graph.nodes
    .filter((n) => n.opType === 'BatchNormalization' && n.domain === '')
    .flatMap((bn) => planFold(graph, bn, inits, uses) ?? []);
  for (const f of folds) {
    const biasName = freshName(`${f.conv.name || 'conv'}_folded_bias`);
    graph.initializers = graph.initializers.map((t) => (t.name === f.weight.name ? f.weight : t));
    graph.initializers.push(rawTensor(biasName, DataType.FLOAT, [f.bias.length], floatRaw(f.bias)));
    // The conv now produces the BatchNormalization's output, so readers and graph outputs are untouched.
    f.conv.inputs = [f.conv.inputs[0] ?? '', f.weight.name, biasName];
    f.conv.outputs = [f.bn.outputs[0] ?? ''];
  }
  const folded = new Set(folds.map((f) => f.bn));
  graph.nodes = graph.nodes.filter((n) => !folded.has(n));
  pruneInitializers(graph);
  return folds.length;
}
