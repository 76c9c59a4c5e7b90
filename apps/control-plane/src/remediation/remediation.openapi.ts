import {
  DeviceIdParamsSchema,
  DeviceRemediationSchema,
  RemediationActionListSchema,
  RemediationActionViewSchema,
  RemediationDecisionSchema,
  RemediationIdParamsSchema,
  RemediationListQuerySchema,
  RemediationScenarioParamsSchema,
  RemediationSettingsListSchema,
  RemediationSettingsSchema,
  RemediationSettingsViewSchema,
} from '@edge-fleet/shared/api';
import type { ZodOpenApiPathsObject } from 'zod-openapi';
import { errorResponse, json, operatorErrors, operatorSecurity } from '../infra/openapi.js';

const notFound = { '404': errorResponse('no such action') };
const conflict = { '409': errorResponse('the action is not pending, no longer applies, or its device is in an active rollout') };
const decision = (verb: string, effect: string) => ({
  summary: `${verb} a suggested remediation (suggest mode): ${effect}; audited with the operator`,
  security: operatorSecurity,
  requestParams: { path: RemediationIdParamsSchema },
  requestBody: { content: json(RemediationDecisionSchema) },
  responses: {
    '200': { description: 'the action', content: json(RemediationActionViewSchema) },
    ...operatorErrors,
    ...notFound,
    ...conflict,
  },
});

/** The routes of remediation.controller.ts. */
export const remediationPaths: ZodOpenApiPathsObject = {
  '/api/v1/remediation/settings': {
    get: {
      summary: "Every scenario's remediation mode (off, suggest, auto) and limits",
      security: operatorSecurity,
      responses: { '200': { description: 'settings per scenario', content: json(RemediationSettingsListSchema) }, ...operatorErrors },
    },
  },
  '/api/v1/remediation/settings/{scenario}': {
    put: {
      summary: "Sets a scenario's remediation mode and limits (audited)",
      security: operatorSecurity,
      requestParams: { path: RemediationScenarioParamsSchema },
      requestBody: { content: json(RemediationSettingsSchema) },
      responses: { '200': { description: 'the settings', content: json(RemediationSettingsViewSchema) }, ...operatorErrors },
    },
  },
  '/api/v1/remediation/actions': {
    get: {
      summary:
        'The remediation log, newest first: what was changed on which device, why, with the figures before and after; a scoped token: its devices only',
      security: operatorSecurity,
      requestParams: { query: RemediationListQuerySchema },
      responses: { '200': { description: 'actions', content: json(RemediationActionListSchema) }, ...operatorErrors },
    },
  },
  '/api/v1/remediation/actions/{id}': {
    get: {
      summary: "One remediation action; on a device outside a scoped token's scope: 404",
      security: operatorSecurity,
      requestParams: { path: RemediationIdParamsSchema },
      responses: { '200': { description: 'the action', content: json(RemediationActionViewSchema) }, ...operatorErrors, ...notFound },
    },
  },
  '/api/v1/remediation/actions/{id}/approve': { post: decision('Approves', 'it is applied now') },
  '/api/v1/remediation/actions/{id}/reject': { post: decision('Rejects', 'nothing changes') },
  '/api/v1/remediation/devices/{id}': {
    get: {
      summary: 'What remediation has put on one device now (variant, rate cap, duty cycle) and its latest actions',
      security: operatorSecurity,
      requestParams: { path: DeviceIdParamsSchema },
      responses: { '200': { description: "the device's remediation", content: json(DeviceRemediationSchema) }, ...operatorErrors },
    },
  },
};
