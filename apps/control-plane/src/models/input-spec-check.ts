import type { InputSpec } from '@edge-fleet/shared';
import type { Graph } from './onnx-inspector.js';

/** Problems with an input spec measured against the model's declared inputs; empty when it fits. */
export function checkInputSpec(spec: InputSpec[], graph: Graph): string[] {
  const problems: string[] = [];
  const byName = new Map(graph.inputs.map((i) => [i.name, i]));
  for (const s of spec) {
    const g = byName.get(s.name);
    if (!g) {
      problems.push(`input "${s.name}" is not an input of the model (model inputs: ${[...byName.keys()].join(', ')})`);
      continue;
    }
    if (g.type !== s.dtype) problems.push(`input "${s.name}" is ${g.type} in the model, not ${s.dtype}`);
    if (g.shape.length !== s.shape.length) {
      problems.push(`input "${s.name}" has rank ${g.shape.length} in the model, the spec gives rank ${s.shape.length}`);
      continue;
    }
    g.shape.forEach((d, i) => {
      if (typeof d === 'number' && d !== s.shape[i]) {
        problems.push(`input "${s.name}" dimension ${i} is fixed at ${d} in the model, the spec gives ${s.shape[i] ?? '?'}`);
      }
    });
    if (s.stateFrom && !graph.outputs.some((o) => o.name === s.stateFrom)) {
      problems.push(`input "${s.name}" takes its state from "${s.stateFrom}", which is not an output of the model`);
    }
  }
  const specNames = new Set(spec.map((s) => s.name));
  for (const name of byName.keys()) if (!specNames.has(name)) problems.push(`model input "${name}" has no entry in the spec`);
  return problems;
}
