import {
  AssignScenarioModelSchema,
  CreateEnrollmentTokenSchema,
  CreateRolloutSchema,
  EnrollRequestSchema,
  EnrollResponseSchema,
  InputSpecListSchema,
  PolicySettingsSchema,
  ScenarioSchema,
} from '@edge-fleet/shared';
import { z } from 'zod';
import { ListDevicesQuerySchema, TelemetryQuerySchema } from '../devices/devices.controller.js';

const json = (schema: z.ZodType) => ({ 'application/json': { schema: z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) } });
const queryParams = (schema: z.ZodObject) =>
  Object.keys(schema.shape).map((name) => ({
    name,
    in: 'query',
    required: false,
    schema: z.toJSONSchema(schema.shape[name] as z.ZodType, { io: 'input', unrepresentable: 'any' }),
  }));
const idParam = (name: string) => ({ name, in: 'path', required: true, schema: { type: 'string' } });
const bearer = [{ operatorToken: [] }];
const errors = { '400': { description: 'invalid request (message names the field)' }, '401': { description: 'missing or invalid token' } };

/** The OpenAPI 3.1 document, generated from the same zod schemas that validate requests. */
export function openApiDocument(): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: { title: 'Edge Fleet control plane', version: '0.1.0' },
    components: {
      securitySchemes: {
        operatorToken: { type: 'http', scheme: 'bearer', description: 'operator API token' },
        deviceBasic: { type: 'http', scheme: 'basic', description: 'device id and per-device secret' },
      },
    },
    paths: {
      '/api/v1/enrollment-tokens': {
        post: {
          summary: 'Create an enrollment token (shown once)',
          security: bearer,
          requestBody: { content: json(CreateEnrollmentTokenSchema) },
          responses: { '201': { description: 'token' }, ...errors },
        },
      },
      '/api/v1/devices/enroll': {
        post: {
          summary: 'Enroll a device with an enrollment token',
          requestBody: { content: json(EnrollRequestSchema) },
          responses: { '201': { description: 'device credentials', content: json(EnrollResponseSchema) }, ...errors },
        },
      },
      '/api/v1/devices': {
        get: {
          summary:
            'List devices, filtered, by page number or by keyset cursor (after = the previous nextCursor); totals up to 10,000 are exact, larger ones counted at most every 5 s (totalCountedAt)',
          security: bearer,
          parameters: queryParams(ListDevicesQuerySchema),
          responses: { '200': { description: 'page of devices' }, ...errors },
        },
      },
      '/api/v1/devices/{id}': {
        get: {
          summary: 'One device',
          security: bearer,
          parameters: [idParam('id')],
          responses: { '200': { description: 'device' }, '404': { description: 'unknown device' } },
        },
      },
      '/api/v1/devices/{id}/telemetry': {
        get: {
          summary: "A device's telemetry windows",
          security: bearer,
          parameters: [idParam('id'), ...queryParams(TelemetryQuerySchema)],
          responses: { '200': { description: 'points' } },
        },
      },
      '/api/v1/models': {
        get: { summary: 'List model versions', security: bearer, responses: { '200': { description: 'model versions' } } },
        post: {
          summary: 'Upload an FP32 ONNX model version',
          security: bearer,
          requestBody: {
            content: {
              'multipart/form-data': {
                schema: {
                  type: 'object',
                  required: ['file', 'name', 'version', 'inputs'],
                  properties: {
                    file: { type: 'string', format: 'binary' },
                    calibration: {
                      type: 'string',
                      format: 'binary',
                      description: 'optional JSON { "<input name>": number[][] } of calibration samples',
                    },
                    name: { type: 'string' },
                    version: { type: 'string' },
                    inputs: {
                      ...z.toJSONSchema(InputSpecListSchema, { io: 'input', unrepresentable: 'any' }),
                      description: 'JSON-encoded InputSpec[] fixing every dynamic dimension',
                    },
                  },
                },
              },
            },
          },
          responses: {
            '201': { description: 'model version' },
            '409': { description: 'version exists' },
            '413': { description: 'too large' },
            '422': { description: 'not a loadable ONNX model, or the input spec does not fit it' },
          },
        },
      },
      '/api/v1/models/{id}': {
        get: {
          summary: 'One model version',
          security: bearer,
          parameters: [idParam('id')],
          responses: { '200': { description: 'model version' } },
        },
      },
      '/api/v1/scenarios/{scenario}/model': {
        put: {
          summary: "Set a scenario's model version; its devices get it",
          security: bearer,
          parameters: [idParam('scenario')],
          requestBody: { content: json(AssignScenarioModelSchema) },
          responses: { '200': { description: 'assigned' }, ...errors },
        },
      },
      '/api/v1/assignments/preview': {
        post: {
          summary: 'What each device of a scenario would run with a model version, and why',
          security: bearer,
          requestBody: { content: json(z.object({ scenario: ScenarioSchema, modelVersionId: z.uuid() })) },
          responses: { '200': { description: 'per-device decisions and counts' }, ...errors },
        },
      },
      '/api/v1/policies': {
        get: { summary: 'The risk-tier policy set', security: bearer, responses: { '200': { description: 'policies' } } },
      },
      '/api/v1/policies/{scenario}': {
        put: {
          summary: "Replace a scenario's policy settings",
          security: bearer,
          parameters: [idParam('scenario')],
          requestBody: { content: json(PolicySettingsSchema) },
          responses: { '200': { description: 'policy' }, ...errors },
        },
      },
      '/api/v1/policies/export.yaml': {
        get: {
          summary: 'The policy set as YAML (deployment-strategy shape)',
          security: bearer,
          responses: { '200': { description: 'YAML' } },
        },
      },
      '/api/v1/policies/import': {
        post: {
          summary: 'Replace policies from YAML, all or nothing',
          security: bearer,
          requestBody: { content: { 'application/yaml': { schema: { type: 'string' } } } },
          responses: { '201': { description: 'applied' }, ...errors },
        },
      },
      '/api/v1/artifacts/{sha256}': {
        get: {
          summary: 'Download an artifact (HTTP Range supported); a device only one its current or previous desired state named',
          security: [{ deviceBasic: [] }, { operatorToken: [] }],
          parameters: [idParam('sha256')],
          responses: {
            '200': { description: 'bytes' },
            '206': { description: 'partial' },
            '403': { description: 'not named by a desired state of this device' },
            '416': { description: 'range outside the artifact (Content-Range: bytes */size)' },
          },
        },
      },
      '/api/v1/rollouts': {
        get: {
          summary: 'Rollouts, newest first, with device counts by state',
          security: bearer,
          responses: { '200': { description: 'rollouts' } },
        },
        post: {
          summary: 'Start a staged rollout of a model version (waves, gates, failure policy)',
          security: bearer,
          requestBody: { content: json(CreateRolloutSchema) },
          responses: {
            '201': { description: 'rollout' },
            '404': { description: 'unknown model version' },
            '409': { description: 'target devices already in an active rollout (named)' },
            ...errors,
          },
        },
      },
      '/api/v1/rollouts/{id}': {
        get: {
          summary: 'One rollout: waves, gate results with their figures, device states',
          security: bearer,
          parameters: [idParam('id')],
          responses: { '200': { description: 'rollout' }, '404': { description: 'unknown rollout' } },
        },
      },
      '/api/v1/rollouts/{id}/{action}': {
        post: {
          summary: 'pause | resume | abort (rolls back what changed) | approve (the next wave)',
          security: bearer,
          parameters: [idParam('id'), idParam('action')],
          responses: {
            '200': { description: 'rollout' },
            '409': { description: 'the action does not apply to the rollout status' },
            ...errors,
          },
        },
      },
      '/healthz': { get: { summary: 'Liveness', responses: { '200': { description: 'ok' } } } },
      '/readyz': {
        get: {
          summary: 'Readiness of Postgres, Redis, MQTT and the telemetry ingest (no window waiting longer than TELEMETRY_STALL_SECONDS)',
          responses: { '200': { description: 'ready' }, '503': { description: 'not ready' } },
        },
      },
      '/metrics': {
        get: { summary: 'Prometheus text: the telemetry ingest (edge_fleet_ingest_*)', responses: { '200': { description: 'metrics' } } },
      },
    },
  };
}
