import {
  ApiTokenIdParamsSchema,
  ApiTokenListSchema,
  ApiTokenSecretSchema,
  ApiTokenViewSchema,
  CreateApiTokenSchema,
  OperatorSessionSchema,
} from '@edge-fleet/shared/api';
import type { ZodOpenApiPathsObject } from 'zod-openapi';
import { errorResponse, json, operatorErrors, operatorSecurity } from '../infra/openapi.js';

const forbidden = { '403': errorResponse('the role or scenario scope of the token does not allow this') };

/** The routes of tokens.controller.ts: API tokens (admin) and dashboard sessions (any role). */
export const authPaths: ZodOpenApiPathsObject = {
  '/api/v1/tokens': {
    get: {
      summary: 'Operator API tokens, newest first: role, scope, prefix, expiry, last use; never the secret (admin)',
      security: operatorSecurity,
      responses: { '200': { description: 'the tokens', content: json(ApiTokenListSchema) }, ...operatorErrors, ...forbidden },
    },
    post: {
      summary: 'Create an operator API token with a role, an optional scenario scope and expiry; the secret is shown once (admin)',
      security: operatorSecurity,
      requestBody: { content: json(CreateApiTokenSchema) },
      responses: {
        '201': { description: 'the token and its secret', content: json(ApiTokenSecretSchema) },
        ...operatorErrors,
        ...forbidden,
      },
    },
  },
  '/api/v1/tokens/{id}/rotate': {
    post: {
      summary: 'A new secret for an active token; the old secret and its dashboard sessions stop working at once (admin)',
      security: operatorSecurity,
      requestParams: { path: ApiTokenIdParamsSchema },
      responses: {
        '200': { description: 'the token and its new secret', content: json(ApiTokenSecretSchema) },
        ...operatorErrors,
        ...forbidden,
        '404': errorResponse('no such token'),
        '409': errorResponse('the token is revoked or expired'),
      },
    },
  },
  '/api/v1/tokens/{id}/revoke': {
    post: {
      summary: 'Revoke a token and end its dashboard sessions; idempotent (admin)',
      security: operatorSecurity,
      requestParams: { path: ApiTokenIdParamsSchema },
      responses: {
        '200': { description: 'the token, revoked', content: json(ApiTokenViewSchema) },
        ...operatorErrors,
        ...forbidden,
        '404': errorResponse('no such token'),
      },
    },
  },
  '/api/v1/sessions': {
    post: {
      summary: 'Exchange the operator token for a dashboard session credential (stored hashed, bound to the token, expires)',
      security: operatorSecurity,
      responses: {
        '201': { description: 'the session credential, shown once', content: json(OperatorSessionSchema) },
        ...operatorErrors,
        '403': errorResponse('the credential is already a session'),
      },
    },
  },
  '/api/v1/sessions/current': {
    delete: {
      summary: 'Sign out: the session presented as Bearer ends server-side; a replayed session is refused',
      security: operatorSecurity,
      responses: { '204': { description: 'signed out' }, ...operatorErrors },
    },
  },
};
