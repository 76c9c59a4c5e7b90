/**
 * The control plane's entry point: FP16, INT8 (static QDQ and dynamic) and INT4 variants of an
 * FP32 ONNX model, each loaded in onnxruntime-node and measured against FP32.
 */
import { createHash } from 'node:crypto';
import type { InputSpec } from '@edge-fleet/shared/schemas';
import { CALIBRATION_SEED, EVALUATION_SEED, generateInputs, parseSuppliedInputs, type InputSet } from './calibration/input-data.js';
import { OnnxQuantError } from './errors.js';
import { checkInputSpecs } from './model/input-spec-check.js';
import { checkModel, SUPPORTED_OPSETS } from './model/model-checks.js';
import { transformableModel, type UpgradeReport } from './upgrade/transformable-model.js';
import { decodeModel } from './model/model-decoder.js';
import type { OnnxModel } from '@edge-fleet/onnx-codec';
import type { RunOutputs } from './measure/agreement.js';
import {
  DEFAULT_MEASURE_OPTIONS,
  machineInfo,
  measureVariant,
  type MachineInfo,
  type MeasureOptions,
  type Measurement,
} from './measure/measure-variant.js';
import { measureReferenceBenchmark, type ReferenceBenchmarkFigure } from './measure/reference-benchmark.js';
import type { Fp16Options } from './transforms/fp16.transform.js';
import type { Int4Options } from './transforms/int4.transform.js';
import type { Int8DynamicOptions } from './transforms/int8-dynamic.transform.js';
import type { Int8StaticOptions } from './transforms/int8-static.transform.js';
import type { CalibrationMethod, Precision, VariantMethod } from './transforms/transform.js';
import { buildVariantBytes, METHOD_PRECISION } from './variant-runner.js';

/** Agreement a variant needs to be usable; a variant below it is reported `unusable`. */
export interface AccuracyFloor {
  /** Minimum cosine similarity with FP32 (default 0.99). */
  minCosine: number;
  /** Minimum top-1 agreement where outputs are class scores (default 0.95). */
  minTop1: number;
}

/** Options of `buildVariants`; everything has a default. */
export interface BuildVariantsOptions {
  methods?: readonly VariantMethod[];
  /** Caller-supplied calibration inputs, JSON `{ "<input>": number[][] }`; generated when absent. */
  calibrationData?: unknown;
  /** Caller-supplied evaluation inputs in the same format; generated (other seed) when absent. */
  evaluationData?: unknown;
  calibrationSamples?: number;
  evaluationSamples?: number;
  accuracyFloor?: Partial<AccuracyFloor>;
  measure?: Partial<MeasureOptions>;
  /** Default-domain opsets the transforms accept (older models are upgraded to `min`). */
  opsets?: { min: number; max: number };
  fp16?: Fp16Options;
  int8Static?: Int8StaticOptions;
  int8Dynamic?: Int8DynamicOptions;
  int4?: Int4Options;
}

/** Measured figures of a variant, with ratios to FP32. */
export interface VariantMeasurement extends Measurement {
  sizeRatio: number;
  latencyRatio: { p50: number; p99: number };
}

/** One variant's outcome. `bytes` is the model file when one was built. */
export interface VariantReport {
  precision: Precision;
  method: VariantMethod;
  status: 'ready' | 'not_applicable' | 'failed' | 'unusable';
  reason?: string;
  /** What the transform did (nodes quantized, ops kept in float…). */
  notes: string[];
  /** Static INT8: how its activation ranges were calibrated. */
  calibration?: CalibrationMethod;
  bytes?: Uint8Array;
  sha256?: string;
  sizeBytes?: number;
  measured?: VariantMeasurement;
}

/** Provenance of an input set. */
export interface InputSetInfo {
  source: InputSet['source'];
  seed?: number;
  samples: number;
}

/** Everything `buildVariants` produces. */
export interface VariantBuild {
  fp32: { sizeBytes: number; sha256: string; measured: Measurement };
  variants: VariantReport[];
  machine: MachineInfo;
  /** The reference benchmark timed on `machine` in this build: devices scale the figures by their own run of it. */
  referenceBenchmark: ReferenceBenchmarkFigure;
  calibration: InputSetInfo;
  evaluation: InputSetInfo;
  /** Present when the model's opset was upgraded for the transforms (the FP32 variant stays the uploaded file). */
  upgrade?: UpgradeReport;
}

/** All methods, in report order. */
export const ALL_METHODS: readonly VariantMethod[] = ['fp16', 'int8-static-qdq', 'int8-dynamic', 'int4-matmulnbits'];

/** Hex SHA-256 of a file's bytes. */
export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function inputSet(data: unknown, specs: InputSpec[], count: number, seed: number): InputSet {
  return data === undefined ? generateInputs(specs, count, seed) : parseSuppliedInputs(data, specs);
}

function info(set: InputSet): InputSetInfo {
  return { source: set.source, ...(set.seed === undefined ? {} : { seed: set.seed }), samples: set.samples.length };
}

/** Parses and validates the model and specs; throws `OnnxQuantError` on bad input. */
export function prepareModel(fp32Bytes: Uint8Array, inputs: unknown): { model: OnnxModel; specs: InputSpec[] } {
  const model = decodeModel(fp32Bytes);
  checkModel(model);
  return { model, specs: checkInputSpecs(model, inputs) };
}

async function measureBaseline(
  bytes: Uint8Array,
  specs: InputSpec[],
  evaluation: InputSet,
  measure: MeasureOptions,
): Promise<{ measurement: Measurement; outputs: RunOutputs[] }> {
  try {
    return await measureVariant(bytes, specs, evaluation.samples, undefined, measure);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new OnnxQuantError('baseline_failed', `the FP32 model does not run in onnxruntime: ${why}`, { cause: err });
  }
}

/**
 * Builds and measures every requested variant of an FP32 model. Bad input (unparseable bytes,
 * external data, specs or calibration data that contradict the model) rejects with
 * `OnnxQuantError`; a variant that cannot be built or loaded is reported, never skipped. A model
 * of opset 7–12 is upgraded to 13 for the transforms once its outputs are shown to match; an
 * opset or op the upgrader cannot handle makes every variant `not_applicable` with the reason.
 */
export async function buildVariants(
  fp32Bytes: Uint8Array,
  inputs: readonly InputSpec[],
  opts: BuildVariantsOptions = {},
): Promise<VariantBuild> {
  const { model, specs } = prepareModel(fp32Bytes, inputs);
  const calibration = inputSet(opts.calibrationData, specs, opts.calibrationSamples ?? 128, CALIBRATION_SEED);
  const evaluation = inputSet(opts.evaluationData, specs, opts.evaluationSamples ?? 100, EVALUATION_SEED);
  const measure = { ...DEFAULT_MEASURE_OPTIONS, ...opts.measure };
  const baseline = await measureBaseline(fp32Bytes, specs, evaluation, measure);
  const floor: AccuracyFloor = { minCosine: 0.99, minTop1: 0.95, ...opts.accuracyFloor };
  const usable = await transformableModel({
    model,
    opsets: opts.opsets ?? SUPPORTED_OPSETS,
    specs,
    evaluation: evaluation.samples,
    reference: baseline.outputs,
    intraOpThreads: measure.intraOpThreads,
  });
  const methods = opts.methods ?? ALL_METHODS;
  const variants: VariantReport[] = [];
  if ('notApplicable' in usable) {
    for (const method of methods) {
      variants.push({ precision: METHOD_PRECISION[method], method, status: 'not_applicable', reason: usable.notApplicable, notes: [] });
    }
  } else {
    const context = { model: usable.model, specs, calibration, evaluation, measure, reference: baseline.outputs, opts };
    for (const method of methods) {
      const report = await buildOne(method, context, baseline.measurement, floor);
      variants.push({ ...report, notes: [...usable.notes, ...report.notes] });
    }
  }
  return {
    ...('upgrade' in usable && usable.upgrade ? { upgrade: usable.upgrade } : {}),
    fp32: { sizeBytes: fp32Bytes.length, sha256: sha256(fp32Bytes), measured: baseline.measurement },
    variants,
    machine: machineInfo(measure.intraOpThreads),
    referenceBenchmark: await measureReferenceBenchmark(measure.intraOpThreads),
    calibration: info(calibration),
    evaluation: info(evaluation),
  };
}

/** What building one variant needs. */
export interface VariantContext {
  model: OnnxModel;
  specs: InputSpec[];
  calibration: InputSet;
  evaluation: InputSet;
  measure: MeasureOptions;
  reference: RunOutputs[];
  opts: BuildVariantsOptions;
}

/** The reason a variant misses the floor, if it does (NaN never passes). */
export function belowFloor(m: Measurement, floor: AccuracyFloor): string | undefined {
  const a = m.agreement;
  if (!a) return undefined;
  if (!(a.cosine >= floor.minCosine)) return `cosine similarity ${a.cosine.toFixed(4)} < floor ${floor.minCosine}`;
  if (a.top1 !== undefined && !(a.top1 >= floor.minTop1))
    return `top-1 agreement ${(a.top1 * 100).toFixed(1)} % < floor ${floor.minTop1 * 100} %`;
  return undefined;
}

async function buildOne(method: VariantMethod, ctx: VariantContext, base: Measurement, floor: AccuracyFloor): Promise<VariantReport> {
  const precision = METHOD_PRECISION[method];
  const built = await buildVariantBytes(method, ctx);
  if ('notApplicable' in built) return { precision, method, status: 'not_applicable', reason: built.notApplicable, notes: [] };
  const artifactOf = (bytes: Uint8Array | undefined): Pick<VariantReport, 'bytes' | 'sha256' | 'sizeBytes'> =>
    bytes ? { bytes, sha256: sha256(bytes), sizeBytes: bytes.length } : {};
  if ('error' in built) return { precision, method, status: 'failed', reason: built.error, notes: built.notes, ...artifactOf(built.bytes) };
  const artifact = { ...artifactOf(built.bytes), notes: built.notes, ...(built.calibration ? { calibration: built.calibration } : {}) };
  const m = built.measurement;
  const measured: VariantMeasurement = {
    ...m,
    sizeRatio: m.sizeBytes / base.sizeBytes,
    latencyRatio: { p50: m.latencyMs.p50 / base.latencyMs.p50, p99: m.latencyMs.p99 / base.latencyMs.p99 },
  };
  const unusable = belowFloor(m, floor);
  return {
    precision,
    method,
    status: unusable ? 'unusable' : 'ready',
    ...(unusable ? { reason: unusable } : {}),
    ...artifact,
    measured,
  };
}
