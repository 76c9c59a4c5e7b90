import { AuditPageSchema, AuditQuerySchema, AuditVerificationSchema } from '@edge-fleet/shared/api';
import type { ZodOpenApiPathsObject } from 'zod-openapi';
import { json, operatorErrors, operatorSecurity } from '../infra/openapi.js';

/** The routes of audit.controller.ts (admin role). */
export const auditPaths: ZodOpenApiPathsObject = {
  '/api/v1/audit': {
    get: {
      summary: 'Audit events, newest first, filtered by actor, action or target (admin)',
      security: operatorSecurity,
      requestParams: { query: AuditQuerySchema },
      responses: { '200': { description: 'a page of events', content: json(AuditPageSchema) }, ...operatorErrors },
    },
  },
  '/api/v1/audit/verify': {
    get: {
      summary: 'Recompute the hash chain of the audit log; names the first broken link (admin)',
      security: operatorSecurity,
      responses: { '200': { description: 'the verification', content: json(AuditVerificationSchema) }, ...operatorErrors },
    },
  },
};
