import type { OipModelMetadata, OipRequestInput } from '@edge-fleet/shared';

/** Dynamic dims (`-1`) get this size: one item per request, as a device application would send. */
const DYNAMIC_DIM = 1;

/** Above this many elements a JSON request body would dwarf the run; the demo's models are far below it. */
export const MAX_EXAMPLE_ELEMENTS = 1_000_000;

/** One element of the datatype, drawn from `rand` (values an application could send: small, in range). */
function element(datatype: string, rand: () => number): number | boolean {
  if (datatype === 'BOOL') return rand() < 0.5;
  if (datatype.startsWith('FP')) return Math.round(rand() * 1_000) / 1_000;
  return Math.floor(rand() * 10);
}

/**
 * An inference request's inputs of exactly the shapes and datatypes the model's metadata states, so
 * the agent runs the model instead of refusing the request. Throws, naming the input, when a tensor
 * would be too big to send as JSON.
 */
export function exampleInputs(metadata: OipModelMetadata, rand: () => number): OipRequestInput[] {
  return metadata.inputs.map((t) => {
    const shape = t.shape.map((d) => (d < 0 ? DYNAMIC_DIM : d));
    const count = shape.reduce((a, b) => a * b, 1);
    if (count > MAX_EXAMPLE_ELEMENTS)
      throw new Error(`input ${t.name} of ${metadata.name} has ${count} elements, more than ${MAX_EXAMPLE_ELEMENTS} to send as JSON`);
    return { name: t.name, shape, datatype: t.datatype, data: Array.from({ length: count }, () => element(t.datatype, rand)) };
  });
}
