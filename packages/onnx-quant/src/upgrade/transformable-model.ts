/** The model the transforms work on: the uploaded one, or its opset-13 upgrade once verified. */
import type { InputSpec } from '@edge-fleet/shared/schemas';
import type { Sample } from '../calibration/input-data.js';
import type { RunOutputs } from '../measure/agreement.js';
import { hoistConstants } from '../model/hoist-constants.js';
import { defaultOpset } from '../model/model-checks.js';
import { encodeOnnxModel } from '../model/model-encoder.js';
import type { OnnxModel } from '../model/onnx-model.js';
import { upgradeOpset } from './opset-upgrade.js';
import { verifyUpgrade, type UpgradeCheck } from './verify-upgrade.js';

/** What the build report says about an opset upgrade. */
export interface UpgradeReport extends UpgradeCheck {
  fromOpset: number;
  toOpset: number;
  /** Nodes rewritten per change, e.g. `{ "Clip→11": 18 }`. */
  rewritten: Record<string, number>;
}

/** Inputs of `transformableModel`. */
export interface TransformableInput {
  model: OnnxModel;
  /** Default-domain opsets the transforms support. */
  opsets: { min: number; max: number };
  specs: readonly InputSpec[];
  evaluation: readonly Sample[];
  /** The uploaded model's outputs on `evaluation`. */
  reference: readonly RunOutputs[];
  intraOpThreads: number;
}

/** The model for the transforms, with the upgrade it went through, or why there is none. */
export type Transformable = { model: OnnxModel; upgrade?: UpgradeReport; notes: string[] } | { notApplicable: string };

/**
 * The uploaded model (Constant weights moved to initializers) when its opset is in range; an
 * upgraded copy whose outputs match the original's when it is older; otherwise the reason
 * every non-FP32 variant is not built.
 */
export async function transformableModel(input: TransformableInput): Promise<Transformable> {
  const usable = await upgraded(input);
  if ('notApplicable' in usable) return usable;
  const { model, hoisted } = hoistConstants(usable.model);
  const notes = hoisted > 0 ? [`${hoisted} Constant node(s) read as initializers`] : [];
  return { ...usable, model, notes };
}

async function upgraded(input: TransformableInput): Promise<{ model: OnnxModel; upgrade?: UpgradeReport } | { notApplicable: string }> {
  const { opsets } = input;
  const opset = defaultOpset(input.model);
  if (opset > opsets.max)
    return { notApplicable: `default-domain opset ${opset} is outside the supported range ${opsets.min}–${opsets.max}` };
  if (opset >= opsets.min) return { model: input.model };
  const upgraded = upgradeOpset(input.model);
  if ('notApplicable' in upgraded) return upgraded;
  if (upgraded.toOpset < opsets.min) {
    return { notApplicable: `default-domain opset ${opset} is outside the supported range ${opsets.min}–${opsets.max}` };
  }
  const check = await verifyUpgrade(encodeOnnxModel(upgraded.model), input.specs, input.evaluation, input.reference, input.intraOpThreads);
  if ('drift' in check) return { notApplicable: `opset ${opset} → ${upgraded.toOpset} upgrade: ${check.drift}` };
  const { fromOpset, toOpset, rewritten } = upgraded;
  return { model: upgraded.model, upgrade: { fromOpset, toOpset, rewritten, ...check } };
}
