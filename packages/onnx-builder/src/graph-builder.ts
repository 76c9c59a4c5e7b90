import type { TensorDtype } from '@edge-fleet/shared/schemas';
import { encodeModel } from './onnx-writer.js';
import type { AttributeSpec, Dim, GraphSpec, ModelSpec, NodeSpec, TensorSpec, ValueInfoSpec } from './onnx-types.js';

/** Shorthands for typed node attributes. */
export const attr = {
  int: (name: string, value: number | bigint): AttributeSpec => ({ name, type: 'INT', value }),
  float: (name: string, value: number): AttributeSpec => ({ name, type: 'FLOAT', value }),
  ints: (name: string, value: readonly (number | bigint)[]): AttributeSpec => ({ name, type: 'INTS', value }),
  floats: (name: string, value: readonly number[]): AttributeSpec => ({ name, type: 'FLOATS', value }),
  string: (name: string, value: string): AttributeSpec => ({ name, type: 'STRING', value }),
  tensor: (name: string, value: TensorSpec): AttributeSpec => ({ name, type: 'TENSOR', value }),
};

/** Options of `GraphBuilder.op`. */
export interface OpOptions {
  attributes?: readonly AttributeSpec[];
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
  private readonly nodes: NodeSpec[] = [];
  private readonly initializers: TensorSpec[] = [];
  private readonly inputs: ValueInfoSpec[] = [];
  private readonly outputs: ValueInfoSpec[] = [];
  private readonly defined = new Set<string>();
  private counter = 0;

  constructor(private readonly name: string) {}

  /** Declares a graph input and returns its name. */
  input(name: string, elemType: TensorDtype, shape: readonly Dim[]): string {
    this.define(name);
    this.inputs.push({ name, elemType, shape: [...shape] });
    return name;
  }

  /** Adds a constant (weight) tensor and returns its name. */
  initializer(tensor: TensorSpec): string {
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
    this.nodes.push(spec);
  }

  /** Declares an existing value as a graph output. */
  output(name: string, elemType: TensorDtype, shape: readonly Dim[]): void {
    if (!this.defined.has(name)) throw new Error(`output ${name} is not produced by the graph`);
    this.outputs.push({ name, elemType, shape: [...shape] });
  }

  /** The graph as assembled so far. */
  graph(docString?: string): GraphSpec {
    return {
      name: this.name,
      nodes: [...this.nodes],
      initializers: [...this.initializers],
      inputs: [...this.inputs],
      outputs: [...this.outputs],
      ...(docString ? { docString } : {}),
    };
  }

  /** Encodes the graph into a complete model file. */
  build(model: Omit<ModelSpec, 'graph'> = {}): Uint8Array {
    if (this.outputs.length === 0) throw new Error(`graph ${this.name} has no outputs`);
    return encodeModel({ ...model, graph: this.graph() });
  }

  private define(name: string): void {
    if (name === '') throw new Error('value names must not be empty');
    if (this.defined.has(name)) throw new Error(`value ${name} is defined twice`);
    this.defined.add(name);
  }
}
