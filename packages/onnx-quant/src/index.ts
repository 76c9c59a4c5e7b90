export { OnnxQuantError, type OnnxQuantErrorCode } from './errors.js';
export {
  ALL_METHODS,
  buildVariants,
  belowFloor,
  prepareModel,
  sha256,
  type AccuracyFloor,
  type BuildVariantsOptions,
  type InputSetInfo,
  type VariantBuild,
  type VariantMeasurement,
  type VariantReport,
} from './build-variants.js';
export { toJsonReport, type JsonReport } from './report.js';
export { decodeModel } from './model/model-decoder.js';
/** The shared codec's encoder, under the name this package has always exported. */
export { encodeModel as encodeOnnxModel } from '@edge-fleet/onnx-codec';
export { checkModel, defaultOpset, SUPPORTED_OPSETS } from './model/model-checks.js';
export { checkInputSpecs } from './model/input-spec-check.js';
export type * from '@edge-fleet/onnx-codec';
export { DataType } from '@edge-fleet/onnx-codec';
export {
  CALIBRATION_SEED,
  EVALUATION_SEED,
  generateInputs,
  parseSuppliedInputs,
  type InputData,
  type InputSet,
  type Sample,
} from './calibration/input-data.js';
export { calibrateRanges, type TensorRange } from './calibration/calibrate.js';
export {
  DEFAULT_MEASURE_OPTIONS,
  machineInfo,
  measureVariant,
  type MachineInfo,
  type MeasureOptions,
  type Measurement,
} from './measure/measure-variant.js';
export { compareOutputs, cosineSimilarity, type Agreement } from './measure/agreement.js';
export { toFp16, type Fp16Options } from './transforms/fp16.transform.js';
export { toInt8Dynamic, type Int8DynamicOptions } from './transforms/int8-dynamic.transform.js';
export { toInt8Static, type Int8StaticOptions } from './transforms/int8-static.transform.js';
export { toInt4, type Int4Options } from './transforms/int4.transform.js';
export { calibrationTensors, planQdq } from './transforms/qdq-plan.js';
export type { CalibrationMethod, Precision, TransformResult, VariantMethod } from './transforms/transform.js';
export { float16BitsToFloat32, float32ToFloat16Bits } from './math/float16.js';
