import {
  makeAttribute,
  type OnnxAttribute,
  type OnnxGraph,
  type OnnxNode,
  type OnnxTensor,
  type OnnxValueInfo,
} from '@edge-fleet/onnx-codec';
import type { TensorDtype } from '@edge-fleet/shared/schemas';
import { nodeOf, valueInfoOf, type Dim, type NodeSpec } from './onnx-types.js';
import { encodeModel, type ModelOptions } from './onnx-writer.js';

/** Shorthands for typed node attributes. */
export const attr = {
  int: (name: string, value: number | bigint): OnnxAttribute => makeAttribute(name, { type: 'INT', value: BigInt(value) }),
  float: (name: string, value: number): OnnxAttribute => makeAttribute(name, { type: 'FLOAT', value }),
  ints: (name: string, value: readonly (number | bigint)[]): OnnxAttribute =>
    makeAttribute(name, { type: 'INTS', value: value.map(BigInt) }),
  floats: (name: string, value: readonly number[]): OnnxAttribute => makeAttribute(name, { type: 'FLOATS', value: [...value] }),
  string: (name: string, value: string): OnnxAttribute => makeAttribute(name, { type: 'STRING', value }),
  tensor: (name: string, value: OnnxTensor): OnnxAttribute => makeAttribute(name, { type: 'TENSOR', value }),
};

/** Options of `GraphBuilder.op`. */
export interface OpOptions {
  attributes?: readonly OnnxAttribute[];
  /** Output name; a unique one is generated when omitted. */
  output?: string;
  domain?: string;
}

/**
 * Assembles a graph in topological order: every node input must already exist (a graph
 * input, an initializer or an earlier node's output), so a mistyped name fails here
 * rather than when a runtime loads the file.
 */
export class GraphBuilder {
  private readonly nodes: OnnxNode[] = [];
  private readonly initializers: OnnxTensor[] = [];
  private readonly inputs: OnnxValueInfo[] = [];
  private readonly outputs: OnnxValueInfo[] = [];
  private readonly defined = new Set<string>();
  private counter = 0;

  constructor(private readonly name: string) {}

  /** Declares a graph input and returns its name. */
  input(name: string, elemType: TensorDtype, shape: readonly Dim[]): string {
    this.define(name);
    this.inputs.push(valueInfoOf({ name, elemType, shape }));
    return name;
  }

  /** Adds a constant (weight) tensor and returns its name. */
  initializer(tensor: OnnxTensor): string {
    this.define(tensor.name);
    this.initializers.push(tensor);
    return tensor.name;
  }

  /** Adds a single-output node and returns the output's name. */
  op(opType: string, inputs: readonly string[], options: OpOptions = {}): string {
    this.counter += 1;
    const output = options.output ?? `${opType.toLowerCase()}_${this.counter}`;
    this.node({
      opType,
      inputs,
      outputs: [output],
      name: `${opType}_${this.counter}`,
      ...(options.domain ? { domain: options.domain } : {}),
      ...(options.attributes ? { attributes: options.attributes } : {}),
    });
    return output;
  }

  /** Adds a node of any arity. */
  node(spec: NodeSpec): void {
    // '' is how ONNX marks an omitted optional input.
    const missing = spec.inputs.filter((i) => i !== '' && !this.defined.has(i));
    if (missing.length > 0) {
      throw new Error(`${spec.opType}: undefined input(s) ${missing.join(', ')}`);
    }
    for (const o of spec.outputs) this.define(o);
    this.nodes.push(nodeOf(spec));
  }

  /** Declares an existing value as a graph output. */
  output(name: string, elemType: TensorDtype, shape: readonly Dim[]): void {
    if (!this.defined.has(name)) throw new Error(`output ${name} is not produced by the graph`);
    this.outputs.push(valueInfoOf({ name, elemType, shape }));
  }

  /** The graph as assembled so far. */
  graph(docString = ''): OnnxGraph {
    return {
      name: this.name,
      nodes: [...this.nodes],
      initializers: [...this.initializers],
      docString,
      inputs: [...this.inputs],
      outputs: [...this.outputs],
      valueInfo: [],
    };
  }

  /** Encodes the graph into a complete model file. */
  build(options: ModelOptions = {}): Uint8Array {
    if (this.outputs.length === 0) throw new Error(`graph ${this.name} has no outputs`);
    return encodeModel(this.graph(), options);
  }

  private define(name: string): void {
    if (name === '') throw new Error('value names must not be empty');
    if (this.defined.has(name)) throw new Error(`value ${name} is defined twice`);
    this.defined.add(name);
  }
}
