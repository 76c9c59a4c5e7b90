/**
 * Moves `Constant` nodes of the main graph into initializers. Some exporters (paddle2onnx among
 * them) write every weight as a Constant node; the transforms look for weights among the
 * initializers, as onnxruntime's quantization tool does after its pre-processing.
 */
import type { OnnxModel } from '@edge-fleet/onnx-codec';

/** A copy of `model`'s graph with tensor-valued Constant nodes as initializers; the count moved. */
export function hoistConstants(model: OnnxModel): { model: OnnxModel; hoisted: number } {
  const outputs = new Set(model.graph.outputs.map((o) => o.name));
  const initializers = [...model.graph.initializers];
  const nodes = model.graph.nodes.filter((node) => {
    const value = node.attributes.length === 1 ? node.attributes[0] : undefined;
    const output = node.outputs[0];
    // A graph output stays produced by a node: some runtimes refuse an initializer as an output.
    if (node.opType !== 'Constant' || node.domain !== '' || value?.name !== 'value' || value.type !== 'TENSOR') return true;
    if (node.outputs.length !== 1 || output === undefined || outputs.has(output)) return true;
    initializers.push({ ...value.value, name: output });
    return false;
  });
  const hoisted = model.graph.nodes.length - nodes.length;
  return { model: { ...model, graph: { ...model.graph, nodes, initializers } }, hoisted };
}
