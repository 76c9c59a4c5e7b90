import { ParkedWindowsSchema, RequeuedParkedSchema, RequeueParkedSchema } from '@edge-fleet/shared/api';
import type { ZodOpenApiPathsObject } from 'zod-openapi';
import { json, operatorErrors, operatorSecurity } from '../infra/openapi.js';

/** The routes of telemetry-rollups.controller.ts. */
export const telemetryRollupPaths: ZodOpenApiPathsObject = {
  '/api/v1/telemetry/rollups/parked': {
    get: {
      summary:
        'Telemetry windows the rollup fold set aside because the database refused their rollups: how many, the oldest, the most frequent reasons (viewer, unscoped)',
      security: operatorSecurity,
      responses: { '200': { description: 'the parked windows', content: json(ParkedWindowsSchema) }, ...operatorErrors },
    },
  },
  '/api/v1/telemetry/rollups/parked/requeue': {
    post: {
      summary:
        'Move every parked window back to the fold once the cause is fixed; a window still refused is parked again (admin, unscoped, audited)',
      security: operatorSecurity,
      requestBody: { content: json(RequeueParkedSchema) },
      responses: {
        '200': { description: 'how many windows went back', content: json(RequeuedParkedSchema) },
        ...operatorErrors,
      },
    },
  },
};
