import {
  ArtifactParamsSchema,
  AssignmentPreviewInputSchema,
  AssignmentSummarySchema,
  AssignScenarioModelSchema,
  ModelUploadFormSchema,
  ModelVersionIdParamsSchema,
  ModelVersionListSchema,
  ModelVersionViewSchema,
  ScenarioParamsSchema,
} from '@edge-fleet/shared/api';
import type { ZodOpenApiPathsObject } from 'zod-openapi';
import { errorResponse, json, operatorErrors, operatorSecurity } from '../infra/openapi.js';

/** The routes of models.controller.ts. */
export const modelsPaths: ZodOpenApiPathsObject = {
  '/api/v1/models': {
    get: {
      summary: 'List model versions',
      security: operatorSecurity,
      responses: { '200': { description: 'model versions', content: json(ModelVersionListSchema) }, ...operatorErrors },
    },
    post: {
      summary: 'Upload an FP32 ONNX model version',
      security: operatorSecurity,
      requestBody: { content: { 'multipart/form-data': { schema: ModelUploadFormSchema } } },
      responses: {
        '201': { description: 'the model version; its variants build in the background', content: json(ModelVersionViewSchema) },
        ...operatorErrors,
        '409': errorResponse('the version exists'),
        '413': errorResponse('too large'),
        '422': errorResponse('not a loadable ONNX model, or the input spec does not fit it'),
      },
    },
  },
  '/api/v1/models/{id}': {
    get: {
      summary: 'One model version',
      security: operatorSecurity,
      requestParams: { path: ModelVersionIdParamsSchema },
      responses: {
        '200': { description: 'the model version', content: json(ModelVersionViewSchema) },
        ...operatorErrors,
        '404': errorResponse('unknown model version'),
      },
    },
  },
  '/api/v1/scenarios/{scenario}/model': {
    put: {
      summary: "Set a scenario's model version; its devices get it",
      security: operatorSecurity,
      requestParams: { path: ScenarioParamsSchema },
      requestBody: { content: json(AssignScenarioModelSchema) },
      responses: {
        '200': { description: 'what each device was given, or why it was refused', content: json(AssignmentSummarySchema) },
        ...operatorErrors,
        '404': errorResponse('unknown model version'),
        '409': errorResponse('devices of the scenario are in an active rollout (named)'),
        '500': errorResponse(
          'code `incomplete`: a chunk failed part way (`commit: chunks`); `error.details` names the devices assigned, refused and unchanged',
        ),
      },
    },
  },
  '/api/v1/assignments/preview': {
    post: {
      summary: 'What each device of a scenario would run with a model version, and why; changes nothing',
      security: operatorSecurity,
      requestBody: { content: json(AssignmentPreviewInputSchema) },
      responses: { '200': { description: 'per-device decisions and counts', content: json(AssignmentSummarySchema) }, ...operatorErrors },
    },
  },
  '/api/v1/artifacts/{sha256}': {
    get: {
      summary: 'Download an artifact (HTTP Range supported); a device only one its current or previous desired state named',
      security: [{ deviceBasic: [] }, { operatorToken: [] }],
      requestParams: { path: ArtifactParamsSchema },
      responses: {
        '200': { description: 'the bytes', content: { 'application/octet-stream': {} } },
        '206': { description: 'the requested range', content: { 'application/octet-stream': {} } },
        '401': errorResponse('missing or invalid credentials'),
        '403': errorResponse('not named by a desired state of this device'),
        '416': errorResponse('range outside the artifact (Content-Range: bytes */size)'),
      },
    },
  },
};
