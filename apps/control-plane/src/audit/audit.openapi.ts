import { AuditPageSchema, AuditQuerySchema, AuditVerificationSchema } from '@edge-fleet/shared/api';
import type { ZodOpenApiPathsObject } from 'zod-openapi';
import { json, operatorErrors, operatorSecurity } from '../infra/openapi.js';

/** The routes of audit.controller.ts (auditor or admin role). */
export const auditPaths: ZodOpenApiPathsObject = {
  '/api/v1/audit': {
    get: {
      summary:
        'Audit events, newest first, filtered by actor, action, target or time range (auditor, admin); a scoped token: events whose target is in its scope',
      security: operatorSecurity,
      requestParams: { query: AuditQuerySchema },
      responses: { '200': { description: 'a page of events', content: json(AuditPageSchema) }, ...operatorErrors },
    },
  },
  '/api/v1/audit/verify': {
    get: {
      summary:
        'Recompute the hash chain of the audit log; names the first broken link (auditor, admin; refused to a scoped token: the chain is the whole log)',
      security: operatorSecurity,
      responses: { '200': { description: 'the verification', content: json(AuditVerificationSchema) }, ...operatorErrors },
    },
  },
};
