import { PolicySettingsSchema } from '@edge-fleet/shared';
import {
  PolicyImportResultSchema,
  PolicyListSchema,
  PolicyViewSchema,
  PolicyYamlDocumentSchema,
  ScenarioParamsSchema,
} from '@edge-fleet/shared/api';
import type { ZodOpenApiPathsObject } from 'zod-openapi';
import { json, operatorErrors, operatorSecurity } from '../infra/openapi.js';

/** The routes of policies.controller.ts. */
export const policiesPaths: ZodOpenApiPathsObject = {
  '/api/v1/policies': {
    get: {
      summary: 'The risk-tier policy set',
      security: operatorSecurity,
      responses: { '200': { description: 'policies', content: json(PolicyListSchema) }, ...operatorErrors },
    },
  },
  '/api/v1/policies/{scenario}': {
    put: {
      summary: "Replace a scenario's policy settings",
      security: operatorSecurity,
      requestParams: { path: ScenarioParamsSchema },
      requestBody: { content: json(PolicySettingsSchema) },
      responses: { '200': { description: 'the policy as it now stands', content: json(PolicyViewSchema) }, ...operatorErrors },
    },
  },
  '/api/v1/policies/export.yaml': {
    get: {
      summary: 'The policy set as YAML (deployment-strategy shape)',
      security: operatorSecurity,
      responses: {
        '200': { description: 'YAML', content: { 'application/yaml': { schema: PolicyYamlDocumentSchema } } },
        ...operatorErrors,
      },
    },
  },
  '/api/v1/policies/import': {
    post: {
      summary: 'Replace policies from YAML, all or nothing',
      security: operatorSecurity,
      requestBody: { content: { 'application/yaml': { schema: PolicyYamlDocumentSchema } } },
      responses: { '201': { description: 'applied', content: json(PolicyImportResultSchema) }, ...operatorErrors },
    },
  },
};
