/** The model the transforms work on: the uploaded one, or its opset-13 upgrade once verified. */
import type { InputSpec } from '@edge-fleet/shared/schemas';
import type { Sample } from '../calibration/input-data.js';
import type { RunOutputs } from '../measure/agreement.js';
import { foldBatchNorms } from '../model/fold-batchnorm.js';
import { NameScope, cloneModel } from '../model/graph-tools.js';
import { hoistConstants } from '../model/hoist-constants.js';
import { defaultOpset } from '../model/model-checks.js';
import { encodeModel } from '@edge-fleet/onnx-codec';
import type { OnnxGraph, OnnxModel } from '@edge-fleet/onnx-codec';
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

/**
 * Drops graph inputs that name an initializer: IR 3 required weights to be listed as inputs and
 * older PyTorch exports keep them there (overridable). A transform that retypes or replaces the
 * weight would leave an input nobody feeds or one of the wrong type; the specs never feed them.
 */
function pinInitializers(graph: OnnxGraph): number {
  const inits = new Set(graph.initializers.map((t) => t.name));
  const before = graph.inputs.length;
  graph.inputs = graph.inputs.filter((i) => !inits.has(i.name));
  return before - graph.inputs.length;
}

/** The model for the transforms, with the upgrade it went through, or why there is none. */
export type Transformable = { model: OnnxModel; upgrade?: UpgradeReport; notes: string[] } | { notApplicable: string };

/**
 * The uploaded model (Constant weights moved to initializers, BatchNormalization folded) when its opset is in range; an
 * upgraded copy whose outputs match the original's when it is older; otherwise the reason
 * every non-FP32 variant is not built.
 */
export async function transformableModel(input: TransformableInput): Promise<Transformable> {
  const usable = await upgraded(input);
  if ('notApplicable' in usable) return usable;
  const { model, hoisted } = hoistConstants(cloneModel(usable.model));
  const pinned = pinInitializers(model.graph);
  const names = new NameScope(model.graph);
  const folded = foldBatchNorms(model.graph, (base) => names.fresh(base));
  const notes = [
    ...(hoisted > 0 ? [`${hoisted} Constant node(s) read as initializers`] : []),
    ...(pinned > 0 ? [`${pinned} initializer(s) listed as graph inputs treated as constants`] : []),
    ...(folded > 0 ? [`${folded} BatchNormalization node(s) folded into the Conv before them`] : []),
  ];
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
  const check = await verifyUpgrade(encodeModel(upgraded.model), input.specs, input.evaluation, input.reference, input.intraOpThreads);
  if ('drift' in check) return { notApplicable: `opset ${opset} → ${upgraded.toOpset} upgrade: ${check.drift}` };
  const { fromOpset, toOpset, rewritten } = upgraded;
  return { model: upgraded.model, upgrade: { fromOpset, toOpset, rewritten, ...check } };
}
