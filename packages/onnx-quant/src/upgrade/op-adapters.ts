/**
 * One adapter per default-domain op whose signature or meaning changed between opset 7 and 13,
 * taken from ONNX's operator changelog (docs/Changelog.md) and the upward adapters of its version
 * converter. Every other change in that range only widens types or accepts negative axes, so
 * the node is valid unchanged at 13. An adapter returns the nodes that replace the old one, or
 * the reason it cannot convert it.
 */
import { findAttr, floatRaw, int64Raw, type NameScope } from '../model/graph-tools.js';
import { DataType, makeAttribute, makeNode, rawTensor, type OnnxGraph, type OnnxNode, type OnnxTensor } from '@edge-fleet/onnx-codec';

/** What an adapter may use: the graph the node lives in (initializers go there) and fresh names. */
export interface AdaptContext {
  graph: OnnxGraph;
  names: NameScope;
  /** The rank of a value when the model declares its shape. */
  rankOf(value: string): number | undefined;
}

/** Replacement nodes, or why the node cannot be upgraded. */
export type Adapted = OnnxNode[] | { reason: string };

/**
 * An adapter applies to a node conforming to an opset below `since` (the version the change
 * arrived in); its output conforms to `yields` (default `since`), so Upsample turned into a
 * Resize-11 is not adapted again as a Resize-10.
 */
export interface OpAdapter {
  op: string;
  since: number;
  yields?: number;
  adapt(node: OnnxNode, ctx: AdaptContext): Adapted;
}

function without(node: OnnxNode, ...names: string[]): OnnxNode {
  return { ...node, attributes: node.attributes.filter((a) => !names.includes(a.name)) };
}

function addInitializer(ctx: AdaptContext, base: string, t: Omit<OnnxTensor, 'name'>): string {
  const name = ctx.names.fresh(base);
  ctx.graph.initializers.push({ ...t, name });
  return name;
}

function int64Input(ctx: AdaptContext, node: OnnxNode, what: string, values: readonly bigint[]): string {
  return addInitializer(ctx, `${node.name || node.opType}_${what}`, rawTensor('', DataType.INT64, [values.length], int64Raw(values)));
}

function floatScalar(ctx: AdaptContext, node: OnnxNode, what: string, value: number): string {
  return addInitializer(ctx, `${node.name || node.opType}_${what}`, rawTensor('', DataType.FLOAT, [], floatRaw(Float32Array.of(value))));
}

function ints(node: OnnxNode, name: string): bigint[] | undefined {
  const a = findAttr(node, name);
  return a?.type === 'INTS' ? a.value : undefined;
}

function floats(node: OnnxNode, name: string): number[] | undefined {
  const a = findAttr(node, name);
  return a?.type === 'FLOATS' ? a.value : undefined;
}

function str(node: OnnxNode, name: string, fallback: string): string {
  const a = findAttr(node, name);
  return a?.type === 'STRING' ? a.value : fallback;
}

/** Trailing optional inputs named '' are dropped, as exporters write them. */
function trimInputs(inputs: string[]): string[] {
  const out = [...inputs];
  while (out.length > 0 && out[out.length - 1] === '') out.pop();
  return out;
}

/** An INTS attribute becomes the node's input at `index` (Squeeze, Unsqueeze, ReduceSum, Split, TopK…). */
function attributeToInput(attr: string, index: number): OpAdapter['adapt'] {
  return (node, ctx) => {
    const values = ints(node, attr);
    if (values === undefined) return [without(node, attr)];
    const inputs = [...node.inputs];
    while (inputs.length < index) inputs.push('');
    inputs[index] = int64Input(ctx, node, attr, values);
    return [{ ...without(node, attr), inputs }];
  };
}

/** Softmax-family before 13 flattened to 2-D at `axis`; from 13 it normalizes along `axis` alone. */
function softmaxTo13(node: OnnxNode, ctx: AdaptContext): Adapted {
  const axisAttr = findAttr(node, 'axis');
  const axis = axisAttr?.type === 'INT' ? Number(axisAttr.value) : 1;
  const rank = ctx.rankOf(node.inputs[0] ?? '');
  const setLast = {
    ...without(node, 'axis'),
    attributes: [...without(node, 'axis').attributes, makeAttribute('axis', { type: 'INT', value: -1n })],
  };
  if (axis === -1 || (rank !== undefined && (axis === rank - 1 || axis + rank === rank - 1))) return [setLast];
  const x = node.inputs[0] ?? '';
  const y = node.outputs[0] ?? '';
  const base = node.name || node.opType;
  const shape = ctx.names.fresh(`${base}_shape`);
  const flat = ctx.names.fresh(`${base}_flat`);
  const inner = ctx.names.fresh(`${base}_2d`);
  return [
    makeNode('Shape', [x], [shape], ctx.names.fresh(`${base}_shape_node`)),
    makeNode('Flatten', [x], [flat], ctx.names.fresh(`${base}_flatten`), [makeAttribute('axis', { type: 'INT', value: BigInt(axis) })]),
    { ...setLast, inputs: [flat], outputs: [inner] },
    makeNode('Reshape', [inner, shape], [y], ctx.names.fresh(`${base}_reshape`)),
  ];
}

/** Upsample (7–9) and Resize-10 sample with asymmetric coordinates and floor for nearest. */
function toResize11(node: OnnxNode, ctx: AdaptContext): Adapted {
  let scales = node.inputs[1];
  const attrScales = floats(node, 'scales');
  if (attrScales) {
    scales = addInitializer(
      ctx,
      `${node.name || node.opType}_scales`,
      rawTensor('', DataType.FLOAT, [attrScales.length], floatRaw(Float32Array.from(attrScales))),
    );
  }
  if (scales === undefined || scales === '') return { reason: `${node.opType} "${node.name}" has no scales` };
  const mode = str(node, 'mode', 'nearest');
  const attributes = [
    makeAttribute('mode', { type: 'STRING', value: mode === 'bilinear' ? 'linear' : mode }),
    makeAttribute('coordinate_transformation_mode', { type: 'STRING', value: 'asymmetric' }),
    makeAttribute('nearest_mode', { type: 'STRING', value: 'floor' }),
  ];
  return [{ ...node, opType: 'Resize', domain: '', inputs: [node.inputs[0] ?? '', '', scales], attributes }];
}

function clipTo11(node: OnnxNode, ctx: AdaptContext): Adapted {
  const bound = (name: string): string => {
    const a = findAttr(node, name);
    return a?.type === 'FLOAT' ? floatScalar(ctx, node, name, a.value) : '';
  };
  const inputs = trimInputs([node.inputs[0] ?? '', bound('min'), bound('max')]);
  return [{ ...without(node, 'min', 'max'), inputs }];
}

function padTo11(node: OnnxNode, ctx: AdaptContext): Adapted {
  const pads = ints(node, 'pads');
  if (!pads) return { reason: `Pad "${node.name}" has no pads attribute` };
  const value = findAttr(node, 'value');
  const inputs = [node.inputs[0] ?? '', int64Input(ctx, node, 'pads', pads)];
  if (value?.type === 'FLOAT' && value.value !== 0) inputs.push(floatScalar(ctx, node, 'value', value.value));
  return [{ ...without(node, 'pads', 'value'), inputs }];
}

function sliceTo10(node: OnnxNode, ctx: AdaptContext): Adapted {
  const starts = ints(node, 'starts');
  const ends = ints(node, 'ends');
  if (!starts || !ends) return { reason: `Slice "${node.name}" lacks starts or ends` };
  const axes = ints(node, 'axes');
  const inputs = [node.inputs[0] ?? '', int64Input(ctx, node, 'starts', starts), int64Input(ctx, node, 'ends', ends)];
  if (axes) inputs.push(int64Input(ctx, node, 'axes', axes));
  return [{ ...without(node, 'starts', 'ends', 'axes'), inputs }];
}

function topKTo10(node: OnnxNode, ctx: AdaptContext): Adapted {
  const k = findAttr(node, 'k');
  if (k?.type !== 'INT') return { reason: `TopK "${node.name}" has no k` };
  return [{ ...without(node, 'k'), inputs: [node.inputs[0] ?? '', int64Input(ctx, node, 'k', [k.value])] }];
}

function dropoutTo12(node: OnnxNode, ctx: AdaptContext): Adapted {
  const ratio = findAttr(node, 'ratio');
  if (ratio?.type !== 'FLOAT') return [without(node, 'ratio')];
  return [{ ...without(node, 'ratio'), inputs: [node.inputs[0] ?? '', floatScalar(ctx, node, 'ratio', ratio.value)] }];
}

function batchNormTo9(node: OnnxNode): Adapted {
  const spatial = findAttr(node, 'spatial');
  if (spatial?.type === 'INT' && spatial.value !== 1n) {
    return { reason: `BatchNormalization "${node.name}" uses spatial=0 (per-element statistics), which opset 9 removed` };
  }
  return [without(node, 'spatial')];
}

function resize11To13(node: OnnxNode): Adapted {
  if (str(node, 'coordinate_transformation_mode', '') === 'tf_half_pixel_for_nn') {
    return { reason: `Resize "${node.name}" uses coordinate_transformation_mode tf_half_pixel_for_nn, which opset 13 removed` };
  }
  return [node];
}

const refuse =
  (why: string): OpAdapter['adapt'] =>
  (node) => ({ reason: `${node.opType} "${node.name}": ${why}` });

/** Experimental ops of opsets ≤ 9 that ONNX removed in opset 10 without a replacement. */
const REMOVED_EXPERIMENTAL = [
  'Affine',
  'ConstantFill',
  'Crop',
  'DynamicSlice',
  'GRUUnit',
  'GivenTensorFill',
  'ImageScaler',
  'ParametricSoftplus',
  'Scale',
  'ScaledTanh',
];

/** Every op whose signature or meaning changed in (7, 13], with the version of the change. */
export const OP_ADAPTERS: readonly OpAdapter[] = [
  { op: 'BatchNormalization', since: 9, adapt: batchNormTo9 },
  {
    op: 'Scan',
    since: 9,
    adapt: refuse('Scan-8 has a batch axis and sequence_lens that Scan-9 dropped; the upgrader does not rewrite its body'),
  },
  {
    op: 'MeanVarianceNormalization',
    since: 9,
    adapt: refuse('the experimental MeanVarianceNormalization before opset 9 has other attributes'),
  },
  { op: 'Slice', since: 10, adapt: sliceTo10 },
  { op: 'TopK', since: 10, adapt: topKTo10 },
  { op: 'Upsample', since: 10, yields: 11, adapt: toResize11 },
  ...REMOVED_EXPERIMENTAL.map((op) => ({ op, since: 10, adapt: refuse('an experimental op ONNX removed in opset 10') })),
  { op: 'Clip', since: 11, adapt: clipTo11 },
  { op: 'Pad', since: 11, adapt: padTo11 },
  { op: 'Resize', since: 11, adapt: toResize11 },
  { op: 'Scatter', since: 11, adapt: (node) => [{ ...node, opType: 'ScatterElements' }] },
  { op: 'Dropout', since: 12, adapt: dropoutTo12 },
  { op: 'Squeeze', since: 13, adapt: attributeToInput('axes', 1) },
  { op: 'Unsqueeze', since: 13, adapt: attributeToInput('axes', 1) },
  { op: 'ReduceSum', since: 13, adapt: attributeToInput('axes', 1) },
  { op: 'Split', since: 13, adapt: attributeToInput('split', 1) },
  { op: 'Softmax', since: 13, adapt: softmaxTo13 },
  { op: 'LogSoftmax', since: 13, adapt: softmaxTo13 },
  { op: 'Hardmax', since: 13, adapt: softmaxTo13 },
  { op: 'Resize', since: 13, adapt: resize11To13 },
];
