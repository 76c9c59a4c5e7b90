import type { OnnxModel } from '@edge-fleet/onnx-codec';

/** How static INT8 took its activation ranges: min/max, or percentile (99.99 % of values inside). */
export type CalibrationMethod = 'minmax' | 'percentile';

/** What a transform returns: a new model with notes for the report (and its calibration, for static INT8), or why it does not apply. */
export type TransformResult = { model: OnnxModel; notes: string[]; calibration?: CalibrationMethod } | { notApplicable: string };

/** Precision names in reports. */
export type Precision = 'fp16' | 'int8' | 'int4';

/** Method names in reports. */
export type VariantMethod = 'fp16' | 'int8-static-qdq' | 'int8-dynamic' | 'int4-matmulnbits';
