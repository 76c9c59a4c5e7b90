/** Builds one variant's bytes with its transform and measures it in onnxruntime. */
import type { VariantContext } from './build-variants.js';
import { calibratedInt8Static } from './calibration/choose-calibration.js';
import { noTargetsReason } from './model/graph-tools.js';
import { encodeModel } from '@edge-fleet/onnx-codec';
import { measureVariant, type Measurement } from './measure/measure-variant.js';
import { toFp16 } from './transforms/fp16.transform.js';
import { toInt4 } from './transforms/int4.transform.js';
import { toInt8Dynamic } from './transforms/int8-dynamic.transform.js';
import { planQdq } from './transforms/qdq-plan.js';
import type { CalibrationMethod, Precision, TransformResult, VariantMethod } from './transforms/transform.js';

/** The precision each method produces. */
export const METHOD_PRECISION: Readonly<Record<VariantMethod, Precision>> = {
  fp16: 'fp16',
  'int8-static-qdq': 'int8',
  'int8-dynamic': 'int8',
  'int4-matmulnbits': 'int4',
};

/** A built variant: measured, failed (with onnxruntime's message), or not applicable. */
export type BuiltVariant =
  | { notApplicable: string }
  | { error: string; notes: string[]; bytes?: Uint8Array }
  | { bytes: Uint8Array; notes: string[]; measurement: Measurement; calibration?: CalibrationMethod };

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

async function transform(method: VariantMethod, ctx: VariantContext, keepFloat32Ops: readonly string[]): Promise<TransformResult> {
  const { model, opts } = ctx;
  switch (method) {
    case 'fp16':
      return toFp16(model, { ...opts.fp16, keepFloat32Ops: [...(opts.fp16?.keepFloat32Ops ?? []), ...keepFloat32Ops] });
    case 'int8-dynamic':
      return toInt8Dynamic(model, opts.int8Dynamic);
    case 'int4-matmulnbits':
      return toInt4(model, opts.int4);
    case 'int8-static-qdq': {
      const { targets, skipped } = planQdq(model.graph);
      if (targets.length === 0) return { notApplicable: skipped.join('; ') || noTargetsReason(model.graph, ['Conv', 'MatMul', 'Gemm']) };
      return calibratedInt8Static(model, targets, ctx.specs, ctx.calibration.samples, ctx.measure.intraOpThreads, opts.int8Static ?? {});
    }
  }
}

/** onnxruntime names the op it has no kernel for: "Could not find an implementation for Foo(13) node …". */
const MISSING_KERNEL = /Could not find an implementation for (\w+)\(\d+\)/;

/**
 * Builds and measures `method`. For FP16, an op the CPU EP has no half kernel for is moved into
 * a float32 Cast island and the build retried, so the variant loads; the notes say which ops.
 */
export async function buildVariantBytes(method: VariantMethod, ctx: VariantContext): Promise<BuiltVariant> {
  const islands: string[] = [];
  for (let attempt = 0; attempt < 8; attempt += 1) {
    let result: TransformResult;
    try {
      result = await transform(method, ctx, islands);
    } catch (err) {
      return { error: `transform failed: ${message(err)}`, notes: [] };
    }
    if ('notApplicable' in result) return result;
    const bytes = encodeModel(result.model);
    try {
      const { measurement } = await measureVariant(bytes, ctx.specs, ctx.evaluation.samples, ctx.reference, ctx.measure);
      return { bytes, notes: result.notes, measurement, ...(result.calibration ? { calibration: result.calibration } : {}) };
    } catch (err) {
      const missing = MISSING_KERNEL.exec(message(err))?.[1];
      if (method !== 'fp16' || missing === undefined || islands.includes(missing)) {
        return { error: `onnxruntime could not load or run the variant: ${message(err)}`, notes: result.notes, bytes };
      }
      islands.push(missing);
    }
  }
  return { error: 'gave up after 8 attempts to place ops without fp16 kernels in float32', notes: [] };
}
