/**
 * FP16: float weights and internal tensors in half precision; graph inputs and outputs stay
 * float32 through a Cast after each input and before each output. Ops listed in
 * `keepFloat32Ops` (e.g. those onnxruntime's CPU EP has no fp16 kernel for) run in float32
 * inside Cast islands.
 */
import { toFloat16Raw } from '../math/float16.js';
import { NameScope, cloneModel, findAttr, floatValues, pruneInitializers, subgraphsOf } from '../model/graph-tools.js';
import { DataType, makeAttribute, makeNode, rawTensor, type OnnxGraph, type OnnxNode, type OnnxTensor } from '../model/onnx-model.js';
import type { OnnxModel } from '../model/onnx-model.js';
import { inferElemTypes } from '../model/type-map.js';
import type { TransformResult } from './transform.js';

/** Options of `toFp16`. */
export interface Fp16Options {
  /** Default-domain op types kept in float32 (Cast islands); other domains always are. */
  keepFloat32Ops?: readonly string[];
}

type Where = 'half' | 'single';

/** Inputs that the ONNX spec types as float32 whatever the data type (`[op, input index]`). */
const ALWAYS_FLOAT32_INPUTS: ReadonlyArray<readonly [string, number]> = [
  ['Resize', 2],
  ['Upsample', 1],
];

/** The largest finite binary16 value; a weight beyond it would turn into infinity. */
const FP16_MAX = 65504;

/**
 * Nodes that read a float32 constant fp16 cannot hold (e.g. a BatchNormalization running
 * variance of 1e8 in PaddleOCR's detector), with that constant's largest magnitude.
 */
function beyondHalfRange(graph: OnnxGraph): Map<OnnxNode, number> {
  const largest = new Map<string, number>();
  for (const t of graph.initializers) {
    if (t.dataType !== DataType.FLOAT) continue;
    let max = 0;
    for (const v of floatValues(t)) if (Number.isFinite(v)) max = Math.max(max, Math.abs(v));
    if (max > FP16_MAX) largest.set(t.name, max);
  }
  const out = new Map<OnnxNode, number>();
  for (const node of graph.nodes) {
    const max = Math.max(0, ...node.inputs.map((i) => largest.get(i) ?? 0));
    if (max > 0) out.set(node, max);
  }
  return out;
}

function toHalfTensor(t: OnnxTensor): OnnxTensor {
  return { ...rawTensor(t.name, DataType.FLOAT16, t.dims, toFloat16Raw(floatValues(t))), docString: t.docString };
}

/** Rewrites attributes that name or hold float32 (Cast `to`, Constant values, random ops' dtype). */
function retypeAttributes(node: OnnxNode): void {
  if (node.opType === 'Constant') {
    const scalar = findAttr(node, 'value_float');
    const list = findAttr(node, 'value_floats');
    const values = scalar?.type === 'FLOAT' ? [scalar.value] : list?.type === 'FLOATS' ? list.value : undefined;
    if (values) {
      const dims = scalar ? [] : [values.length];
      const t = rawTensor('', DataType.FLOAT16, dims, toFloat16Raw(Float32Array.from(values)));
      node.attributes = [makeAttribute('value', { type: 'TENSOR', value: t })];
    }
  }
  for (const a of node.attributes) {
    if (a.type === 'TENSOR' && a.value.dataType === DataType.FLOAT) a.value = toHalfTensor(a.value);
    const namesType = a.name === 'to' || a.name === 'dtype';
    if (namesType && a.type === 'INT' && a.value === BigInt(DataType.FLOAT)) a.value = BigInt(DataType.FLOAT16);
  }
  const defaultsToFloat = ['RandomNormal', 'RandomUniform', 'RandomNormalLike', 'RandomUniformLike', 'EyeLike'];
  if (defaultsToFloat.includes(node.opType) && !findAttr(node, 'dtype') && !node.opType.endsWith('Like')) {
    node.attributes.push(makeAttribute('dtype', { type: 'INT', value: BigInt(DataType.FLOAT16) }));
  }
}

class Fp16Rewriter {
  private readonly names: NameScope;
  private readonly types: Map<string, number>;
  private readonly where = new Map<string, Where>();
  private readonly casts = new Map<string, string>();
  private readonly keep: Set<string>;
  private readonly outOfRange: Map<OnnxNode, number>;
  /** Graph output name → the internal name its value is produced under. */
  private readonly pendingOutputs = new Map<string, string>();
  readonly islands = new Set<string>();

  constructor(
    private readonly graph: OnnxGraph,
    keepOps: readonly string[],
  ) {
    this.names = new NameScope(graph);
    this.types = inferElemTypes(graph);
    this.keep = new Set(keepOps);
    this.outOfRange = beyondHalfRange(graph);
  }

  /** Why single nodes run in float32 although their op has a half kernel. */
  rangeNotes(): string[] {
    return [...this.outOfRange].map(
      ([node, max]) =>
        `${node.opType} "${node.name}" kept in float32: a constant input reaches ${max.toExponential(2)}, beyond fp16's ${FP16_MAX}`,
    );
  }

  run(): void {
    this.keepOutputsFloat32();
    this.placeInitializers();
    const nodes: OnnxNode[] = [];
    for (const node of this.graph.nodes) {
      const single = this.isIsland(node);
      if (single && !this.outOfRange.has(node)) this.islands.add(node.opType);
      node.inputs = node.inputs.map((input, i) => this.feed(input, this.required(node, i, single), nodes));
      if (!single) retypeAttributes(node);
      for (const o of node.outputs) if (this.isFloat(o)) this.where.set(o, single ? 'single' : 'half');
      nodes.push(node);
    }
    this.graph.nodes = nodes;
    for (const o of this.graph.outputs) this.graph.nodes.push(...this.outputCast(o.name));
    this.retypeValueInfo();
  }

  private isFloat(name: string): boolean {
    return this.types.get(name) === DataType.FLOAT;
  }

  private isIsland(node: OnnxNode): boolean {
    return (node.domain !== '' && node.domain !== 'ai.onnx') || this.keep.has(node.opType) || this.outOfRange.has(node);
  }

  private required(node: OnnxNode, index: number, single: boolean): Where {
    if (single) return 'single';
    return ALWAYS_FLOAT32_INPUTS.some(([op, i]) => op === node.opType && i === index) ? 'single' : 'half';
  }

  /** Float graph outputs are produced under a new name, then cast back to float32 at the end. */
  private keepOutputsFloat32(): void {
    const inputs = new Set(this.graph.inputs.map((v) => v.name));
    for (const out of this.graph.outputs) {
      const producer = this.graph.nodes.find((n) => n.outputs.includes(out.name));
      if (!producer || inputs.has(out.name) || !this.isFloat(out.name)) continue;
      const inner = this.names.fresh(`${out.name}_fp16`);
      producer.outputs = producer.outputs.map((o) => (o === out.name ? inner : o));
      for (const n of this.graph.nodes) n.inputs = n.inputs.map((i) => (i === out.name ? inner : i));
      this.types.set(inner, DataType.FLOAT);
      this.pendingOutputs.set(out.name, inner);
    }
    for (const i of this.graph.inputs) if (this.isFloat(i.name)) this.where.set(i.name, 'single');
  }

  private outputCast(name: string): OnnxNode[] {
    const inner = this.pendingOutputs.get(name);
    if (inner === undefined) return [];
    const to = makeAttribute('to', { type: 'INT', value: BigInt(DataType.FLOAT) });
    return [makeNode('Cast', [inner], [name], this.names.fresh(`${name}_cast_fp32`), [to])];
  }

  /** Float initializers become half unless every reader needs float32. */
  private placeInitializers(): void {
    const readers = new Map<string, Where[]>();
    for (const node of this.graph.nodes) {
      const single = this.isIsland(node);
      node.inputs.forEach((input, i) => {
        const list = readers.get(input) ?? [];
        list.push(this.required(node, i, single));
        readers.set(input, list);
      });
    }
    this.graph.initializers = this.graph.initializers.map((t) => {
      if (t.dataType !== DataType.FLOAT) return t;
      const allSingle = (readers.get(t.name) ?? []).every((w) => w === 'single');
      this.where.set(t.name, allSingle ? 'single' : 'half');
      return allSingle ? t : toHalfTensor(t);
    });
  }

  /** The name to read `input` under so it arrives in `need` precision, adding a Cast when needed. */
  private feed(input: string, need: Where, nodes: OnnxNode[]): string {
    const have = this.where.get(input);
    if (input === '' || have === undefined || have === need) return input;
    const key = `${input}\u0000${need}`;
    const cached = this.casts.get(key);
    if (cached !== undefined) return cached;
    const out = this.names.fresh(`${input}_${need === 'half' ? 'fp16' : 'fp32'}`);
    const to = BigInt(need === 'half' ? DataType.FLOAT16 : DataType.FLOAT);
    nodes.push(makeNode('Cast', [input], [out], this.names.fresh(`${out}_cast`), [makeAttribute('to', { type: 'INT', value: to })]));
    this.casts.set(key, out);
    this.where.set(out, need);
    return out;
  }

  private retypeValueInfo(): void {
    for (const v of this.graph.valueInfo) {
      if (v.type?.tensor?.elemType === DataType.FLOAT && this.where.get(v.name) === 'half') {
        v.type.tensor.elemType = DataType.FLOAT16;
      }
    }
  }
}

/** Converts a float32 model to FP16 with float32 I/O. */
export function toFp16(model: OnnxModel, options: Fp16Options = {}): TransformResult {
  if (subgraphsOf(model.graph).length > 0) {
    return { notApplicable: 'control-flow subgraphs (If/Loop/Scan) are not converted to fp16' };
  }
  const out = cloneModel(model);
  const hasFloat = out.graph.initializers.some((t) => t.dataType === DataType.FLOAT);
  if (!hasFloat) return { notApplicable: 'the model has no float32 weights to convert' };
  const rewriter = new Fp16Rewriter(out.graph, options.keepFloat32Ops ?? []);
  rewriter.run();
  pruneInitializers(out.graph);
  const notes = [...[...rewriter.islands].map((op) => `${op} kept in float32 (Cast island)`), ...rewriter.rangeNotes()];
  return { model: out, notes };
}
