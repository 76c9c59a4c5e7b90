import {
  DeviceEnergyQuerySchema,
  DeviceEnergySchema,
  DeviceIdParamsSchema,
  EnergyQuerySchema,
  EnergyReportSchema,
} from '@edge-fleet/shared/api';
import type { ZodOpenApiPathsObject } from 'zod-openapi';
import { json, operatorErrors, operatorSecurity } from '../infra/openapi.js';

/** The routes of energy.controller.ts. */
export const energyPaths: ZodOpenApiPathsObject = {
  '/api/v1/energy': {
    get: {
      summary:
        'Energy and cost per scenario and variant over the last sinceHours, each figure with its basis, and variant comparisons; a scoped token: over its devices only',
      security: operatorSecurity,
      requestParams: { query: EnergyQuerySchema },
      responses: { '200': { description: 'the energy report', content: json(EnergyReportSchema) }, ...operatorErrors },
    },
  },
  '/api/v1/energy/devices/{id}': {
    get: {
      summary: "One device's energy per variant it ran and in all over the last sinceHours, each figure with its basis",
      security: operatorSecurity,
      requestParams: { path: DeviceIdParamsSchema, query: DeviceEnergyQuerySchema },
      responses: { '200': { description: "the device's energy", content: json(DeviceEnergySchema) }, ...operatorErrors },
    },
  },
};
