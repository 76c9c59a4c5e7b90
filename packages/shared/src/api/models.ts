import { z } from 'zod';
import type { LatencySource } from '../assignment.js';
import {
  InputSpecSchema,
  PrecisionSchema,
  ScenarioSchema,
  VariantMeasurementSchema,
  VariantMethodSchema,
  VariantStatusSchema,
} from '../schemas.js';

/** Path parameters of `/api/v1/models/{id}`. */
export const ModelVersionIdParamsSchema = z.strictObject({ id: z.uuid() });
export type ModelVersionIdParams = z.infer<typeof ModelVersionIdParamsSchema>;

/** Path parameters of `/api/v1/scenarios/{scenario}/…` and `/api/v1/policies/{scenario}`. */
export const ScenarioParamsSchema = z.strictObject({ scenario: ScenarioSchema });
export type ScenarioParams = z.infer<typeof ScenarioParamsSchema>;

/** REST `PUT /api/v1/scenarios/{scenario}/model` body. */
export const AssignScenarioModelSchema = z.strictObject({
  modelVersionId: z.uuid(),
  /**
   * `whole` (default): one transaction, all devices or none, its devices sent their states as it
   * answers. `chunks`:
   * devices are committed and notified a chunk at a time (a failure part way leaves earlier chunks
   * applied and says which devices are which). Measured on 2 cores at 10,000 devices, `chunks`
   * notified the first half as fast and the last device 1.3–1.7× later, and answered the PUT 3.6–5.2×
   * later (README, Performance), so it is not the default.
   */
  commit: z.enum(['chunks', 'whole']).default('whole'),
});
export type AssignScenarioModel = z.infer<typeof AssignScenarioModelSchema>;

/** REST `POST /api/v1/assignments/preview` body and tRPC `assignments.preview` input. */
export const AssignmentPreviewInputSchema = z.strictObject({ scenario: ScenarioSchema, modelVersionId: z.uuid() });
export type AssignmentPreviewInput = z.infer<typeof AssignmentPreviewInputSchema>;

/** Path parameters of `/api/v1/artifacts/{sha256}`: artifacts are content-addressed. */
export const ArtifactParamsSchema = z.strictObject({
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be a lower-case sha256 hex digest'),
});
export type ArtifactParams = z.infer<typeof ArtifactParamsSchema>;

/**
 * REST `POST /api/v1/models` multipart form: the FP32 ONNX file, its name and version, the input spec
 * and optional calibration samples. The service parses `name`, `version` and `inputs` with
 * `ModelUploadMetaSchema`; this schema documents the form as it arrives.
 */
export const ModelUploadFormSchema = z.object({
  file: z.file().describe('the FP32 ONNX model'),
  name: z.string(),
  version: z.string(),
  inputs: z.string().describe('JSON-encoded InputSpec[] fixing every dynamic dimension'),
  calibration: z.file().optional().describe('optional JSON { "<input name>": number[][] } of calibration samples'),
});

/** One variant as the API shows it: what was built, whether it can be used, and what was measured. */
export const VariantViewSchema = z.object({
  id: z.string(),
  precision: PrecisionSchema,
  method: VariantMethodSchema,
  status: VariantStatusSchema,
  reason: z.string().nullable(),
  sha256: z.string().nullable(),
  sizeBytes: z.number().int().nullable(),
  measured: VariantMeasurementSchema.nullable(),
});
export type VariantView = z.infer<typeof VariantViewSchema>;

/** One model version with its variants and the scenarios it is assigned to. */
export const ModelVersionViewSchema = z.object({
  id: z.string(),
  modelId: z.string(),
  name: z.string(),
  version: z.string(),
  inputs: z.array(InputSpecSchema),
  /** Where the builder's calibration inputs come from. */
  calibration: z.enum(['uploaded', 'generated']),
  createdAt: z.iso.datetime(),
  scenarios: z.array(z.string()),
  variants: z.array(VariantViewSchema),
});
export type ModelVersionView = z.infer<typeof ModelVersionViewSchema>;

/** REST `GET /api/v1/models` and tRPC `models.list` result. */
export const ModelVersionListSchema = z.object({ items: z.array(ModelVersionViewSchema) });
export type ModelVersionList = z.infer<typeof ModelVersionListSchema>;

/** One device's assignment decision: the variant it gets and the predicted latency, or a refusal; always why. */
export const AssignmentDecisionSchema = z.object({
  deviceId: z.string(),
  name: z.string(),
  hardwareClass: z.string(),
  outcome: z.enum(['assign', 'refuse']),
  precision: z.string().nullable(),
  variantId: z.string().nullable(),
  placement: z.string().nullable(),
  predictedLatencyMs: z.number().nullable(),
  /** What the prediction rests on; its words are in `reason`. */
  latencySource: z.enum(['device', 'fleet', 'speed-factor', 'unmeasured'] satisfies LatencySource[]).nullable(),
  reason: z.string(),
});
export type AssignmentDecision = z.infer<typeof AssignmentDecisionSchema>;

/** REST `PUT /api/v1/scenarios/{scenario}/model` and `POST /api/v1/assignments/preview` result (also tRPC's). */
export const AssignmentSummarySchema = z.object({
  scenario: ScenarioSchema,
  modelVersionId: z.string(),
  devices: z.number().int(),
  assigned: z.number().int(),
  refused: z.number().int(),
  byPrecision: z.record(z.string(), z.number().int()),
  decisions: z.array(AssignmentDecisionSchema),
});
export type AssignmentSummary = z.infer<typeof AssignmentSummarySchema>;
