import { z } from 'zod';

/**
 * The Open Inference Protocol (KServe V2, Triton's HTTP/REST API) as the device agent serves it to
 * applications on the device, with Triton's binary tensor data extension. Field names are the
 * protocol's (snake_case), so existing clients work unchanged.
 */

/** The protocol's tensor datatypes the agent accepts (BYTES has no ONNX numeric counterpart and is refused). */
export const OipDatatypeSchema = z.enum([
  'BOOL',
  'UINT8',
  'UINT16',
  'UINT32',
  'UINT64',
  'INT8',
  'INT16',
  'INT32',
  'INT64',
  'FP16',
  'FP32',
  'FP64',
]);
export type OipDatatype = z.infer<typeof OipDatatypeSchema>;

const parameterValue = z.union([z.string().max(4_096), z.number(), z.boolean()]);
const parameters = z.record(z.string().max(256), parameterValue);

/** One input of an inference request; `data` is checked against shape and datatype by the server, element by element. */
export const OipRequestInputSchema = z.object({
  name: z.string().min(1).max(256),
  shape: z.array(z.int().min(0).max(2_147_483_647)).max(16),
  /** A string here so that an unsupported datatype is answered with a message naming the input. */
  datatype: z.string().min(1).max(16),
  parameters: z
    .object({ binary_data_size: z.int().min(0).optional() })
    .catchall(parameterValue)
    .optional(),
  data: z.unknown().optional(),
});
export type OipRequestInput = z.infer<typeof OipRequestInputSchema>;

export const OipRequestOutputSchema = z.object({
  name: z.string().min(1).max(256),
  parameters: z.object({ binary_data: z.boolean().optional() }).catchall(parameterValue).optional(),
});

export const OipInferRequestSchema = z.object({
  id: z.string().max(256).optional(),
  parameters: z.object({ binary_data_output: z.boolean().optional() }).catchall(parameterValue).optional(),
  inputs: z.array(OipRequestInputSchema).min(1).max(64),
  outputs: z.array(OipRequestOutputSchema).max(64).optional(),
});
export type OipInferRequest = z.infer<typeof OipInferRequestSchema>;

export const OipResponseOutputSchema = z.object({
  name: z.string(),
  shape: z.array(z.int().min(0)),
  datatype: OipDatatypeSchema,
  parameters: z
    .object({ binary_data_size: z.int().min(0).optional() })
    .catchall(parameterValue)
    .optional(),
  data: z.array(z.union([z.number(), z.boolean()])).optional(),
});
export type OipResponseOutput = z.infer<typeof OipResponseOutputSchema>;

export const OipInferResponseSchema = z.object({
  model_name: z.string(),
  model_version: z.string().optional(),
  id: z.string().optional(),
  parameters: parameters.optional(),
  outputs: z.array(OipResponseOutputSchema),
});
export type OipInferResponse = z.infer<typeof OipInferResponseSchema>;

/** An input or output in model metadata: `-1` marks a dynamic dimension. */
export const OipTensorMetadataSchema = z.object({
  name: z.string(),
  datatype: OipDatatypeSchema,
  shape: z.array(z.int().min(-1)),
});
export type OipTensorMetadata = z.infer<typeof OipTensorMetadataSchema>;

export const OipModelMetadataSchema = z.object({
  name: z.string(),
  versions: z.array(z.string()).optional(),
  platform: z.string(),
  inputs: z.array(OipTensorMetadataSchema),
  outputs: z.array(OipTensorMetadataSchema),
  parameters: parameters.optional(),
});
export type OipModelMetadata = z.infer<typeof OipModelMetadataSchema>;

export const OipServerMetadataSchema = z.object({
  name: z.string(),
  version: z.string(),
  extensions: z.array(z.string()),
});
export type OipServerMetadata = z.infer<typeof OipServerMetadataSchema>;

/** Every failure: a 4xx/5xx status and this body. */
export const OipErrorSchema = z.object({ error: z.string() });
export type OipError = z.infer<typeof OipErrorSchema>;

/** Binary tensor data extension: length of the JSON header that precedes the binary tensors in a body. */
export const INFERENCE_HEADER_CONTENT_LENGTH = 'inference-header-content-length';
