/**
 * FP16: float weights and internal tensors in half precision; graph inputs and outputs stay
 * float32 through a Cast after each input and before each output. Ops listed in
 * `keepFloat32Ops` (e.g. those onnxruntime's CPU EP has no fp16 kernel for) run in float32
 * inside Cast islands.
 */
import { toFloat16Raw } from '../math/float16.js';
import { NameScope, cloneModel, findAttr, floatValues, pruneInitializers, subgraphsOf } from '../model/graph-tools.js';
import {
  DataType,
  makeAttribute,
  makeNode,
  rawTensor,
  type OnnxGraph,
  type OnnxNode,
  type OnnxTensor,
  type OnnxValueInfo,
} from '@edge-fleet/onnx-codec';
import type { OnnxModel } from '@edge-fleet/onnx-codec';
import { inferElemTypes } from '../model/type-map.js';
import type { TransformResult } from './transform.js';

/** Options of `toFp16`. */
export interface Fp16Options {
  /** Default-domain op types kept in float32 (Cast islands); other domains always are. */
  keepFloat32Ops?: readonly string[];
}

type Where = 'half' | 'single';

/** Ops whose bodies are converted on their own, with float32 at the body boundary. */
const CONTROL_FLOW = new Set(['If', 'Loop', 'Scan']);

/** What a body inherits from the graph around it. */
interface Scope {
  names: NameScope;
  types: ReadonlyMap<string, number>;
  where: ReadonlyMap<string, Where>;
}

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
  private readonly where: Map<string, Where>;
  private readonly casts = new Map<string, string>();
  private readonly keep: Set<string>;
  private readonly outOfRange: Map<OnnxNode, number>;
  /** Graph output name → the internal name its value is produced under. */
  private readonly pendingOutputs = new Map<string, string>();
  readonly islands = new Set<string>();
  /** Notes of the bodies converted inside this graph. */
  private readonly bodyNotes: string[] = [];

  /** `scope` is the enclosing graph's when `graph` is an If/Loop/Scan body. */
  constructor(
    private readonly graph: OnnxGraph,
    private readonly keepOps: readonly string[],
    scope?: Scope,
  ) {
    this.names = scope?.names ?? new NameScope(graph);
    this.types = inferElemTypes(graph, scope?.types);
    this.where = new Map(scope?.where);
    this.keep = new Set(keepOps);
    this.outOfRange = beyondHalfRange(graph);
  }

  /** Every note: islands, out-of-range constants, and those of the bodies. */
  notes(): string[] {
    return [...[...this.islands].map((op) => `${op} kept in float32 (Cast island)`), ...this.rangeNotes(), ...this.bodyNotes];
  }

  /**
   * Converts the bodies of a control-flow node before the node itself: each body reads outer
   * values in whatever precision they have here, and hands float32 back at its outputs, so the
   * node's own inputs and outputs stay float32 whichever branch or iteration runs.
   */
  private convertBodies(node: OnnxNode): void {
    for (const a of node.attributes) {
      const bodies = a.type === 'GRAPH' ? [a.value] : a.type === 'GRAPHS' ? a.value : [];
      for (const body of bodies) {
        const inner = new Fp16Rewriter(body, this.keepOps, { names: this.names, types: this.types, where: this.where });
        inner.run();
        for (const n of inner.notes()) if (!this.bodyNotes.includes(n)) this.bodyNotes.push(n);
        for (const op of inner.islands) this.islands.add(op);
      }
    }
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
      if (CONTROL_FLOW.has(node.opType)) this.convertBodies(node);
      const single = this.isIsland(node);
      if (single && !this.outOfRange.has(node) && !CONTROL_FLOW.has(node.opType)) this.islands.add(node.opType);
      node.inputs = node.inputs.map((input, i) => this.feed(input, this.required(node, i, single), nodes));
      if (!single) retypeAttributes(node);
      for (const o of node.outputs) if (this.isFloat(o)) this.where.set(o, single ? 'single' : 'half');
      nodes.push(node);
    }
    this.graph.nodes = nodes;
    for (const o of this.graph.outputs) this.graph.nodes.push(...this.outputCast(o));
    this.retypeValueInfo();
  }

  private isFloat(name: string): boolean {
    return this.types.get(name) === DataType.FLOAT;
  }

  private isIsland(node: OnnxNode): boolean {
    const op = node.opType;
    return (node.domain !== '' && node.domain !== 'ai.onnx') || this.keep.has(op) || CONTROL_FLOW.has(op) || this.outOfRange.has(node);
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
      for (const g of [this.graph, ...subgraphsOf(this.graph)])
        for (const n of g.nodes) n.inputs = n.inputs.map((i) => (i === out.name ? inner : i));
      this.types.set(inner, DataType.FLOAT);
      this.pendingOutputs.set(out.name, inner);
    }
    for (const i of this.graph.inputs) if (this.isFloat(i.name)) this.where.set(i.name, 'single');
  }

  private outputCast(output: OnnxValueInfo): OnnxNode[] {
    const to = makeAttribute('to', { type: 'INT', value: BigInt(DataType.FLOAT) });
    const name = output.name;
    const inner = this.pendingOutputs.get(name);
    if (inner !== undefined) return [makeNode('Cast', [inner], [name], this.names.fresh(`${name}_cast_fp32`), [to])];
    if (this.where.get(name) !== 'half') return [];
    // A body output that is an outer value now in half: body outputs bind by position, so rename.
    output.name = this.names.fresh(`${name}_fp32`);
    return [makeNode('Cast', [name], [output.name], this.names.fresh(`${name}_cast_fp32`), [to])];
  }

  /** Float initializers become half unless every reader (bodies included) needs float32. */
  private placeInitializers(): void {
    const readers = new Map<string, Where[]>();
    for (const node of [this.graph, ...subgraphsOf(this.graph)].flatMap((g) => g.nodes)) {
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
/** Float32 weights anywhere: initializers or Constant nodes, in the graph or its bodies. */
function hasFloatWeights(graph: OnnxGraph): boolean {
  return [graph, ...subgraphsOf(graph)].some(
    (g) =>
      g.initializers.some((t) => t.dataType === DataType.FLOAT) ||
      g.nodes.some((n) => n.opType === 'Constant' && n.attributes.some((a) => a.type === 'TENSOR' && a.value.dataType === DataType.FLOAT)),
  );
}

/** Converts a float32 model to FP16 with float32 I/O; If/Loop/Scan bodies are converted too. */
export function toFp16(model: OnnxModel, options: Fp16Options = {}): TransformResult {
  const out = cloneModel(model);
  if (!hasFloatWeights(out.graph)) return { notApplicable: 'the model has no float32 weights to convert' };
  const rewriter = new Fp16Rewriter(out.graph, options.keepFloat32Ops ?? []);
  rewriter.run();
  pruneInitializers(out.graph);
  const bodies = subgraphsOf(out.graph).length;
  return {
    model: out,
    notes: [...(bodies > 0 ? [`${bodies} If/Loop/Scan bod(ies) converted inside, float32 at their boundaries`] : []), ...rewriter.notes()],
  };
}
