import { ApiErrorSchema } from '@edge-fleet/shared/api';
import type { ZodOpenApiContentObject, ZodOpenApiResponsesObject } from 'zod-openapi';
import type { z } from 'zod';

/** Building blocks of the per-domain route documents (`*.openapi.ts`) that `health/openapi.ts` joins. */

export const operatorSecurity = [{ operatorToken: [] }];

export const json = (schema: z.ZodType): ZodOpenApiContentObject => ({ 'application/json': { schema } });

/** One error answer in the API's error shape. */
export const errorResponse = (description: string) => ({ description, content: json(ApiErrorSchema) });

/** The errors every operator route may answer. */
export const operatorErrors: ZodOpenApiResponsesObject = {
  '400': errorResponse('invalid request (the message names the field)'),
  '401': errorResponse('missing or invalid operator token'),
  '429': errorResponse('too many requests for this token, or too many failed credentials from this address (see Retry-After)'),
};
