/** Checks in onnxruntime that an upgraded model computes what the uploaded one does. */
import type { InputSpec } from '@edge-fleet/shared/schemas';
import type { Sample } from '../calibration/input-data.js';
import { compareOutputs, type RunOutputs } from '../measure/agreement.js';
import { createSession, runOnce, toFeeds } from '../measure/session.js';

/**
 * Largest |upgraded − original| allowed, relative to the largest |original output| (at least 1).
 * The rewrites keep the arithmetic (same kernels, same order), so any drift above float32
 * rounding means a rewrite changed the meaning of an op.
 */
export const UPGRADE_TOLERANCE = 1e-5;

/** How the upgraded model agreed with the original on the evaluation inputs. */
export interface UpgradeCheck {
  maxAbsError: number;
  /** The bound it was held to (tolerance × scale of the outputs). */
  bound: number;
  samples: number;
}

function largestMagnitude(outputs: readonly RunOutputs[]): number {
  let max = 0;
  for (const run of outputs) for (const o of Object.values(run)) for (const v of o.data) max = Math.max(max, Math.abs(v));
  return max;
}

/** Runs the upgraded bytes on `samples`; the check, or the reason the upgrade is not to be used. */
export async function verifyUpgrade(
  bytes: Uint8Array,
  specs: readonly InputSpec[],
  samples: readonly Sample[],
  reference: readonly RunOutputs[],
  intraOpThreads: number,
): Promise<UpgradeCheck | { drift: string }> {
  let session;
  try {
    session = await createSession(bytes, { intraOpThreads });
  } catch (err) {
    return { drift: `onnxruntime rejects the upgraded model: ${err instanceof Error ? err.message : String(err)}` };
  }
  try {
    const outputs: RunOutputs[] = [];
    for (const s of samples) outputs.push(await runOnce(session, toFeeds(s, specs)));
    const { maxAbsError } = compareOutputs(reference, outputs);
    const bound = UPGRADE_TOLERANCE * Math.max(1, largestMagnitude(reference));
    if (!(maxAbsError <= bound)) {
      return {
        drift: `the upgraded model's outputs drift from the original's: max abs error ${maxAbsError.toExponential(2)} > ${bound.toExponential(2)}`,
      };
    }
    return { maxAbsError, bound, samples: samples.length };
  } finally {
    await session.release();
  }
}
