import type { OnnxModel } from '../model/onnx-model.js';

/** What a transform returns: a new model with notes for the report, or why it does not apply. */
export type TransformResult = { model: OnnxModel; notes: string[] } | { notApplicable: string };

/** Precision names in reports. */
export type Precision = 'fp16' | 'int8' | 'int4';

/** Method names in reports. */
export type VariantMethod = 'fp16' | 'int8-static-qdq' | 'int8-dynamic' | 'int4-matmulnbits';
