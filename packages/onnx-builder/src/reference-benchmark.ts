import type { GeneratedModel } from './models/generated-model.js';
import { buildMlpClassifier } from './models/mlp-classifier.factory.js';

/**
 * The fixed model both the variant builder and every device time, so a device's speed is a measured
 * ratio to the builder's machine rather than a spec-sheet figure. Changing the model means a new
 * id: figures of different benchmark models are never compared. Sized to take about a millisecond
 * on one core, so per-run overhead does not decide the ratio (a 0.05 ms ConvNet measured 1.9× apart
 * on one machine depending on the process it ran in).
 */
export const REFERENCE_BENCHMARK = {
  id: 'mlp-b64-512x2048-seed1',
  /** Untimed runs first (allocations, caches), as on every machine. */
  warmupRuns: 5,
  /** Timed runs; the median of them is the figure. */
  runs: 30,
} as const;

/** The reference benchmark's model, generated the same way on every machine. */
export function referenceBenchmarkModel(): GeneratedModel {
  return buildMlpClassifier({ inputSize: 512, hidden: 2048, classes: 10, batch: 64, layers: 'matmul', seed: 1 });
}
