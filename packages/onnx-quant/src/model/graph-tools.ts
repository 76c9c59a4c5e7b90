/** Helpers the transforms share: reading tensors, naming new values, finding consumers. */
import { DataType, type OnnxAttribute, type OnnxGraph, type OnnxModel, type OnnxNode, type OnnxTensor } from '@edge-fleet/onnx-codec';

/** A deep copy, so a transform never mutates the model it was given. */
export function cloneModel(model: OnnxModel): OnnxModel {
  return structuredClone(model);
}

/** Number of elements of a tensor with these dims. */
export function elementCount(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

/** The values of a FLOAT tensor, from `raw_data` or `float_data`. */
export function floatValues(t: OnnxTensor): Float32Array {
  if (t.dataType !== DataType.FLOAT) throw new Error(`tensor ${t.name} is not float32`);
  if (!t.rawData) return Float32Array.from(t.floatData);
  const count = t.rawData.length / 4;
  const view = new DataView(t.rawData.buffer, t.rawData.byteOffset, t.rawData.byteLength);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i += 1) out[i] = view.getFloat32(i * 4, true);
  return out;
}

/** Little-endian bytes of a Float32Array. */
export function floatRaw(values: Float32Array): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => view.setFloat32(i * 4, v, true));
  return out;
}

/** Little-endian bytes of an Int32Array. */
export function int32Raw(values: Int32Array): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => view.setInt32(i * 4, v, true));
  return out;
}

/** Little-endian bytes of int64 values. */
export function int64Raw(values: readonly (number | bigint)[]): Uint8Array {
  const out = new Uint8Array(values.length * 8);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => view.setBigInt64(i * 8, BigInt(v), true));
  return out;
}

/** Allocates value/node names that do not clash with anything already in a graph. */
export class NameScope {
  private readonly used = new Set<string>();

  /** Subgraph names are reserved too: a body may read any outer value by name. */
  constructor(graph: OnnxGraph) {
    const add = (n: string): void => void this.used.add(n);
    for (const g of [graph, ...subgraphsOf(graph)]) {
      g.inputs.forEach((v) => add(v.name));
      g.outputs.forEach((v) => add(v.name));
      g.initializers.forEach((t) => add(t.name));
      for (const n of g.nodes) {
        n.inputs.forEach(add);
        n.outputs.forEach(add);
        add(n.name);
      }
    }
  }

  /** `base`, or `base_2`, `base_3`… whichever is free; the result is reserved. */
  fresh(base: string): string {
    let name = base;
    for (let i = 2; this.used.has(name); i += 1) name = `${base}_${i}`;
    this.used.add(name);
    return name;
  }
}

/** Initializers by name. */
export function initializerMap(graph: OnnxGraph): Map<string, OnnxTensor> {
  return new Map(graph.initializers.map((t) => [t.name, t]));
}

/** Every graph nested in a node attribute (If/Loop/Scan bodies), recursively. */
export function subgraphsOf(graph: OnnxGraph): OnnxGraph[] {
  const out: OnnxGraph[] = [];
  for (const node of graph.nodes) {
    for (const a of node.attributes) {
      const inner = a.type === 'GRAPH' ? [a.value] : a.type === 'GRAPHS' ? a.value : [];
      for (const g of inner) out.push(g, ...subgraphsOf(g));
    }
  }
  return out;
}

/** How many node inputs (subgraphs included, as they may read outer values) and graph outputs read each value. */
export function useCounts(graph: OnnxGraph): Map<string, number> {
  const counts = new Map<string, number>();
  const bump = (n: string): void => void counts.set(n, (counts.get(n) ?? 0) + 1);
  for (const g of [graph, ...subgraphsOf(graph)]) {
    for (const node of g.nodes) node.inputs.filter((i) => i !== '').forEach(bump);
  }
  graph.outputs.forEach((o) => bump(o.name));
  return counts;
}

/** Renames every node input reading `from` to `to` (graph outputs are left alone). */
export function renameUses(graph: OnnxGraph, from: string, to: string): void {
  for (const node of graph.nodes) node.inputs = node.inputs.map((i) => (i === from ? to : i));
}

/** An INT attribute's value as a number, or `fallback`. */
export function intAttr(node: OnnxNode, name: string, fallback: number): number {
  const a = node.attributes.find((x) => x.name === name);
  return a?.type === 'INT' ? Number(a.value) : fallback;
}

/** A FLOAT attribute's value, or `fallback`. */
export function floatAttr(node: OnnxNode, name: string, fallback: number): number {
  const a = node.attributes.find((x) => x.name === name);
  return a?.type === 'FLOAT' ? a.value : fallback;
}

/** An attribute by name. */
export function findAttr(node: OnnxNode, name: string): OnnxAttribute | undefined {
  return node.attributes.find((x) => x.name === name);
}

/** Adds an opset import for `domain` unless there is one. */
export function ensureOpset(model: OnnxModel, domain: string, version: number): void {
  if (!model.opsets.some((o) => o.domain === domain)) model.opsets.push({ domain, version });
}

/** Drops initializers no node or graph output reads any more. */
export function pruneInitializers(graph: OnnxGraph): void {
  const uses = useCounts(graph);
  graph.initializers = graph.initializers.filter((t) => (uses.get(t.name) ?? 0) > 0);
}

/**
 * Why a transform found none of `ops` in the main graph: none anywhere, or (precisely, per op)
 * only inside If/Loop/Scan bodies, which the integer transforms do not enter.
 */
export function noTargetsReason(graph: OnnxGraph, ops: readonly string[]): string {
  const inBodies = new Map<string, number>();
  for (const g of subgraphsOf(graph)) {
    for (const n of g.nodes) if (ops.includes(n.opType)) inBodies.set(n.opType, (inBodies.get(n.opType) ?? 0) + 1);
  }
  const list = ops.length > 2 ? `${ops.slice(0, -1).join(', ')} or ${ops.at(-1) ?? ''}` : ops.join(' or ');
  if (inBodies.size === 0) return `the model has no ${list}`;
  const found = [...inBodies].map(([op, n]) => `${n} ${op}`).join(', ');
  return `the main graph has no ${list}; ${found} are inside If/Loop/Scan bodies, which integer quantization does not enter`;
}
