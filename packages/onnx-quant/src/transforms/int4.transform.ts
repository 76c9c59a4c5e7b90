/** INT4: weight-only block quantization of MatMul/Gemm weights into com.microsoft MatMulNBits. */
import { quantizeInt4Blocks } from '../math/int4-pack.js';
import { NameScope, cloneModel, ensureOpset, floatRaw, initializerMap, noTargetsReason, pruneInitializers } from '../model/graph-tools.js';
import { DataType, makeAttribute, makeNode, rawTensor, type OnnxGraph, type OnnxModel, type OnnxNode } from '@edge-fleet/onnx-codec';
import { linearLayer, type LinearLayer } from './linear-weights.js';
import type { TransformResult } from './transform.js';

/** Options of `toInt4`. */
export interface Int4Options {
  /** Block size along K: a power of two ≥ 16 (default 32). */
  blockSize?: number;
  /** Symmetric blocks without zero points (default false: asymmetric with packed uint4 zero points). */
  symmetric?: boolean;
  /** MatMulNBits `accuracy_level`: 0 keeps A in float32; 4 lets the CPU kernel quantize A to int8 (default 4, faster). */
  accuracyLevel?: 0 | 1 | 2 | 3 | 4;
}

function intAttribute(name: string, value: number): ReturnType<typeof makeAttribute> {
  return makeAttribute(name, { type: 'INT', value: BigInt(value) });
}

function replace(graph: OnnxGraph, names: NameScope, layer: LinearLayer, opts: Required<Int4Options>): OnnxNode[] {
  const { node, k, n } = layer;
  const base = node.name || node.outputs[0] || 'matmul';
  const q = quantizeInt4Blocks(layer.weight, k, n, opts.blockSize, opts.symmetric);
  const b = names.fresh(`${base}.weight_q4`);
  const s = names.fresh(`${base}.weight_scales`);
  graph.initializers.push(rawTensor(b, DataType.UINT8, [n, q.kBlocks, opts.blockSize / 2], q.packed));
  graph.initializers.push(rawTensor(s, DataType.FLOAT, [n, q.kBlocks], floatRaw(q.scales.map((x) => x * layer.alpha))));
  const inputs = [node.inputs[0] ?? '', b, s];
  if (q.zeroPoints) {
    const z = names.fresh(`${base}.weight_zero_points`);
    graph.initializers.push(rawTensor(z, DataType.UINT8, [n, Math.ceil(q.kBlocks / 2)], q.zeroPoints));
    inputs.push(z);
  }
  if (layer.bias) {
    const bias = names.fresh(`${base}.bias`);
    graph.initializers.push(rawTensor(bias, DataType.FLOAT, [n], floatRaw(layer.bias)));
    while (inputs.length < 5) inputs.push('');
    inputs.push(bias);
  }
  const attrs = [intAttribute('K', k), intAttribute('N', n), intAttribute('bits', 4), intAttribute('block_size', opts.blockSize)];
  if (opts.accuracyLevel) attrs.push(intAttribute('accuracy_level', opts.accuracyLevel));
  const out = node.outputs[0] ?? '';
  const product = layer.biasInput ? names.fresh(`${out}_product`) : out;
  const nodes = [makeNode('MatMulNBits', inputs, [product], names.fresh(base), attrs, 'com.microsoft')];
  if (layer.biasInput) nodes.push(makeNode('Add', [product, layer.biasInput], [out], names.fresh(`${base}_bias_add`)));
  return nodes;
}

/** Replaces every MatMul/Gemm with a constant 2-D weight; not applicable when there is none. */
export function toInt4(model: OnnxModel, options: Int4Options = {}): TransformResult {
  const opts: Required<Int4Options> = { blockSize: 32, symmetric: false, accuracyLevel: 4, ...options };
  const bs = opts.blockSize;
  if (!Number.isInteger(bs) || bs < 16 || (bs & (bs - 1)) !== 0) throw new RangeError(`block size must be a power of two ≥ 16, got ${bs}`);
  const m = cloneModel(model);
  const inits = initializerMap(m.graph);
  const names = new NameScope(m.graph);
  const notes: string[] = [];
  let count = 0;
  m.graph.nodes = m.graph.nodes.flatMap((node) => {
    if (node.domain !== '' || (node.opType !== 'MatMul' && node.opType !== 'Gemm')) return [node];
    const layer = linearLayer(node, inits);
    if (typeof layer === 'string') {
      notes.push(`${node.opType} ${node.name}: kept in float (${layer})`);
      return [node];
    }
    if (layer.k % bs !== 0)
      notes.push(`${node.opType} ${node.name}: K=${layer.k} is not a multiple of ${bs}; the last block is zero-padded`);
    count += 1;
    return replace(m.graph, names, layer, opts);
  });
  if (count === 0)
    return {
      notApplicable: notes.length
        ? `no MatMul/Gemm with a constant weight: ${notes.join('; ')}`
        : noTargetsReason(model.graph, ['MatMul', 'Gemm']),
    };
  pruneInitializers(m.graph);
  ensureOpset(m, 'com.microsoft', 1);
  const kind = opts.symmetric ? 'symmetric' : 'asymmetric';
  notes.unshift(`${count} MatMul/Gemm node(s) → MatMulNBits (4-bit, block ${bs}, ${kind}, accuracy_level ${opts.accuracyLevel})`);
  return { model: m, notes };
}
