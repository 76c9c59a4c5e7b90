import { buildConvNet } from './models/conv-net.factory.js';
import type { GeneratedModel } from './models/generated-model.js';

/**
 * The fixed model both the variant builder and every device time, so a device's speed is a measured
 * ratio to the builder's machine rather than a spec-sheet figure. Changing the model means a new
 * id: figures of different benchmark models are never compared.
 */
export const REFERENCE_BENCHMARK = {
  id: 'convnet-seed1',
  /** Timed runs after one warm-up run; the median of them is the figure. */
  runs: 30,
} as const;

/** The reference benchmark's model, generated the same way on every machine. */
export function referenceBenchmarkModel(): GeneratedModel {
  return buildConvNet({ seed: 1 });
}
