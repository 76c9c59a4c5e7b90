/** The builder's side of the reference benchmark that devices also run (onnx-builder's fixed model). */
import { REFERENCE_BENCHMARK, referenceBenchmarkModel } from '@edge-fleet/onnx-builder';
import { EVALUATION_SEED, generateInputs } from '../calibration/input-data.js';
import { measureVariant } from './measure-variant.js';

/** The reference benchmark's median on this machine. */
export interface ReferenceBenchmarkFigure {
  model: string;
  p50Ms: number;
  runs: number;
}

/**
 * Times the reference benchmark as a device does (REFERENCE_BENCHMARK's warm-up, then timed runs),
 * in the same build as the variants, so a device's own run of it scales these figures by a
 * measured ratio between the two machines.
 */
export async function measureReferenceBenchmark(intraOpThreads: number): Promise<ReferenceBenchmarkFigure> {
  const model = referenceBenchmarkModel();
  const inputs = generateInputs(model.inputs, 1, EVALUATION_SEED);
  const { measurement } = await measureVariant(model.bytes, model.inputs, inputs.samples, undefined, {
    intraOpThreads,
    warmupRuns: REFERENCE_BENCHMARK.warmupRuns,
    timedRuns: REFERENCE_BENCHMARK.runs,
  });
  return { model: REFERENCE_BENCHMARK.id, p50Ms: measurement.latencyMs.p50, runs: measurement.latencyMs.runs };
}
