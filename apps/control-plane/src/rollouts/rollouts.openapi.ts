import { CreateRolloutSchema } from '@edge-fleet/shared';
import { RolloutActionParamsSchema, RolloutIdParamsSchema } from '@edge-fleet/shared/api';
import type { ZodOpenApiPathsObject } from 'zod-openapi';
import { errorResponse, json, operatorErrors, operatorSecurity } from '../infra/openapi.js';

/** The routes of rollouts.controller.ts. */
export const rolloutsPaths: ZodOpenApiPathsObject = {
  '/api/v1/rollouts': {
    get: {
      summary: 'Rollouts, newest first, with device counts by state',
      security: operatorSecurity,
      responses: { '200': { description: 'rollouts' }, ...operatorErrors },
    },
    post: {
      summary: 'Start a staged rollout of a model version (waves, gates, failure policy)',
      security: operatorSecurity,
      requestBody: { content: json(CreateRolloutSchema) },
      responses: {
        '201': { description: 'the rollout' },
        ...operatorErrors,
        '404': errorResponse('unknown model version'),
        '409': errorResponse('target devices already in an active rollout (named)'),
      },
    },
  },
  '/api/v1/rollouts/{id}': {
    get: {
      summary: 'One rollout: waves, gate results with their figures, device states',
      security: operatorSecurity,
      requestParams: { path: RolloutIdParamsSchema },
      responses: { '200': { description: 'the rollout' }, ...operatorErrors, '404': errorResponse('unknown rollout') },
    },
  },
  '/api/v1/rollouts/{id}/{action}': {
    post: {
      summary: 'pause | resume | abort (rolls back what changed) | approve (the next wave)',
      security: operatorSecurity,
      requestParams: { path: RolloutActionParamsSchema },
      responses: {
        '200': { description: 'the rollout' },
        ...operatorErrors,
        '409': errorResponse('the action does not apply to the rollout status'),
      },
    },
  },
};
