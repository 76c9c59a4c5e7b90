import { RotateSigningKeySchema, SigningKeyRotationSchema, SigningKeyStatusSchema } from '@edge-fleet/shared/api';
import type { ZodOpenApiPathsObject } from 'zod-openapi';
import { json, operatorErrors, operatorSecurity } from '../infra/openapi.js';

/** The routes of signing-keys.controller.ts. */
export const signingPaths: ZodOpenApiPathsObject = {
  '/api/v1/signing-key': {
    get: {
      summary: 'The root key devices trust and the signing key in use, with its serial (viewer)',
      security: operatorSecurity,
      responses: { '200': { description: 'the keys (public halves)', content: json(SigningKeyStatusSchema) }, ...operatorErrors },
    },
  },
  '/api/v1/signing-key/rotate': {
    post: {
      summary:
        'Certify a new signing key under the next serial and re-publish every desired state signed with it; devices then refuse the old key (admin, audited)',
      security: operatorSecurity,
      requestBody: { content: json(RotateSigningKeySchema) },
      responses: { '200': { description: 'the new key', content: json(SigningKeyRotationSchema) }, ...operatorErrors },
    },
  },
};
