import { EnergyQuerySchema, EnergyReportSchema } from '@edge-fleet/shared/api';
import type { ZodOpenApiPathsObject } from 'zod-openapi';
import { json, operatorErrors, operatorSecurity } from '../infra/openapi.js';

/** The route of energy.controller.ts. */
export const energyPaths: ZodOpenApiPathsObject = {
  '/api/v1/energy': {
    get: {
      summary: 'Energy and cost per scenario and variant over the last sinceHours, each figure with its basis, and variant comparisons',
      security: operatorSecurity,
      requestParams: { query: EnergyQuerySchema },
      responses: { '200': { description: 'the energy report', content: json(EnergyReportSchema) }, ...operatorErrors },
    },
  },
};
