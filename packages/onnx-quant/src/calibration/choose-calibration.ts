/**
 * Static INT8 with the activation calibration that suits the model: min/max keeps every value a
 * tensor reached, percentile clips the rare outliers that stretch a per-tensor scale. Neither wins
 * everywhere (measured on the corpus: percentile lifts the direction classifier, halves the
 * detector's agreement), so both are built and the one closer to FP32 on the calibration inputs
 * is kept: never judged on the held-out evaluation inputs the variant is later measured on.
 */
import type { InputSpec } from '@edge-fleet/shared/schemas';
import { compareOutputs, type RunOutputs } from '../measure/agreement.js';
import { createSession, runOnce, toFeeds } from '../measure/session.js';
import { encodeModel } from '@edge-fleet/onnx-codec';
import type { OnnxModel } from '@edge-fleet/onnx-codec';
import { toInt8Static, type Int8StaticOptions } from '../transforms/int8-static.transform.js';
import { calibrationTensors, type QdqTarget } from '../transforms/qdq-plan.js';
import type { CalibrationMethod, TransformResult } from '../transforms/transform.js';
import { calibrateRanges } from './calibrate.js';
import type { Sample } from './input-data.js';

async function outputsOn(
  model: OnnxModel,
  specs: readonly InputSpec[],
  samples: readonly Sample[],
  threads: number,
): Promise<RunOutputs[]> {
  const session = await createSession(encodeModel(model), { intraOpThreads: threads });
  try {
    const outputs: RunOutputs[] = [];
    for (const sample of samples) outputs.push(await runOnce(session, toFeeds(sample, specs)));
    return outputs;
  } finally {
    await session.release();
  }
}

/**
 * Builds static INT8 with the chosen calibration, or (`auto`) with min/max and percentile ranges from
 * the first three quarters of `samples`, scored by cosine to FP32 on the last quarter (min/max
 * would win every in-sample comparison: its ranges hold every value seen), then rebuilt with the
 * winner's ranges over all samples. Min/max wins a tie.
 */
export async function calibratedInt8Static(
  model: OnnxModel,
  targets: readonly QdqTarget[],
  specs: readonly InputSpec[],
  samples: readonly Sample[],
  threads: number,
  options: Int8StaticOptions,
): Promise<TransformResult> {
  const names = calibrationTensors(model.graph, targets);
  const build = async (method: CalibrationMethod, from: readonly Sample[]): Promise<TransformResult> =>
    toInt8Static(model, await calibrateRanges(model, names, specs, from, threads, method), options);
  const split = Math.floor((samples.length * 3) / 4);
  const choice = options.calibration ?? 'auto';
  let method: CalibrationMethod = choice === 'auto' ? 'minmax' : choice;
  let why = '';
  if (choice === 'auto' && split >= 1 && split < samples.length) {
    const [fit, check] = [samples.slice(0, split), samples.slice(split)];
    const reference = await outputsOn(model, specs, check, threads);
    const scores: Array<[CalibrationMethod, number]> = [];
    for (const m of ['minmax', 'percentile'] as const) {
      const result = await build(m, fit);
      if ('notApplicable' in result) return result;
      scores.push([m, compareOutputs(reference, await outputsOn(result.model, specs, check, threads)).cosine]);
    }
    method = scores.reduce((a, b) => (b[1] > a[1] ? b : a))[0];
    why = ` (cosine to FP32 on ${check.length} held-back calibration inputs: ${scores.map(([m, c]) => `${m} ${c.toFixed(4)}`).join(', ')})`;
  }
  const result = await build(method, samples);
  if ('notApplicable' in result) return result;
  return { ...result, calibration: method, notes: [`activations calibrated by ${method}${why}`, ...result.notes] };
}
