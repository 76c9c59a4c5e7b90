import { CreateEnrollmentTokenSchema, EnrollRequestSchema, EnrollResponseSchema } from '@edge-fleet/shared';
import {
  DeviceIdParamsSchema,
  DevicePageSchema,
  DeviceSecretSchema,
  DeviceSchema,
  DeviceTelemetrySchema,
  EnrollmentTokenCreatedSchema,
  ListDevicesQuerySchema,
  TelemetryQuerySchema,
} from '@edge-fleet/shared/api';
import type { ZodOpenApiPathsObject } from 'zod-openapi';
import { errorResponse, json, operatorErrors, operatorSecurity } from '../infra/openapi.js';

/** The routes of devices.controller.ts. */
export const devicesPaths: ZodOpenApiPathsObject = {
  '/api/v1/enrollment-tokens': {
    post: {
      summary: 'Create an enrollment token (shown once)',
      security: operatorSecurity,
      requestBody: { content: json(CreateEnrollmentTokenSchema) },
      responses: { '201': { description: 'the token', content: json(EnrollmentTokenCreatedSchema) }, ...operatorErrors },
    },
  },
  '/api/v1/devices/enroll': {
    post: {
      summary:
        'Enroll a device with an enrollment token; a try repeating an earlier requestId whose answer was lost gets the same device with a new secret, using no further use of the token',
      requestBody: { content: json(EnrollRequestSchema) },
      responses: {
        '201': { description: 'device credentials', content: json(EnrollResponseSchema) },
        '400': errorResponse('invalid request'),
        '401': errorResponse('unknown, used-up or expired enrollment token'),
        '409': errorResponse(
          'the requestId names an enrollment whose device has connected since, is revoked, or has another hardware profile; or the same requestId is being enrolled in another request',
        ),
        '429': errorResponse('too many enrollments, or too many failed enrollment tokens, from this address (see Retry-After)'),
      },
    },
  },
  '/api/v1/devices': {
    get: {
      summary:
        'List devices, filtered, by page number or by keyset cursor (after = the previous nextCursor); totals up to 10,000 are exact, larger ones counted at most every 5 s (totalCountedAt)',
      security: operatorSecurity,
      requestParams: { query: ListDevicesQuerySchema },
      responses: { '200': { description: 'a page of devices', content: json(DevicePageSchema) }, ...operatorErrors },
    },
  },
  '/api/v1/devices/{id}': {
    get: {
      summary: 'One device',
      security: operatorSecurity,
      requestParams: { path: DeviceIdParamsSchema },
      responses: {
        '200': { description: 'the device', content: json(DeviceSchema) },
        ...operatorErrors,
        '404': errorResponse('unknown device'),
      },
    },
  },
  '/api/v1/devices/{id}/revoke': {
    post: {
      summary:
        'Revoke a device: refused at CONNECT from now on (both brokers), its live session ended at once, artifact downloads refused, its retained messages cleared; audited. Idempotent.',
      security: operatorSecurity,
      requestParams: { path: DeviceIdParamsSchema },
      responses: {
        '200': { description: 'the device, revoked', content: json(DeviceSchema) },
        ...operatorErrors,
        '404': errorResponse('unknown device'),
        '503': errorResponse('revoked in the database, the broker not updated: repeat the call'),
      },
    },
  },
  '/api/v1/devices/{id}/enable': {
    post: {
      summary: 'Enable a revoked device again (it is offline until it connects; its desired state is republished); audited. Idempotent.',
      security: operatorSecurity,
      requestParams: { path: DeviceIdParamsSchema },
      responses: {
        '200': { description: 'the device, enabled', content: json(DeviceSchema) },
        ...operatorErrors,
        '404': errorResponse('unknown device'),
        '503': errorResponse('enabled in the database, the broker not updated: repeat the call'),
      },
    },
  },
  '/api/v1/devices/{id}/rotate-secret': {
    post: {
      summary:
        "Rotate a device's secret (admin): the new one is answered once, stored hashed; the old one is refused at CONNECT (both brokers) and at downloads, and the device's live session ends; audited. Install the new secret on the device.",
      security: operatorSecurity,
      requestParams: { path: DeviceIdParamsSchema },
      responses: {
        '200': { description: 'the new secret, shown once', content: json(DeviceSecretSchema) },
        ...operatorErrors,
        '404': errorResponse('unknown device'),
        '503': errorResponse('the broker could not be updated: nothing changed, repeat the call'),
      },
    },
  },
  '/api/v1/devices/{id}/telemetry': {
    get: {
      summary: "A device's telemetry windows, oldest first",
      security: operatorSecurity,
      requestParams: { path: DeviceIdParamsSchema, query: TelemetryQuerySchema },
      responses: {
        '200': { description: 'windows', content: json(DeviceTelemetrySchema) },
        ...operatorErrors,
        '404': errorResponse('unknown device'),
      },
    },
  },
};
