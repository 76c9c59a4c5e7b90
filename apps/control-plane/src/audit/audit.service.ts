import { Inject, Injectable } from '@nestjs/common';
import type { AuditPage, AuditQuery, AuditVerification } from '@edge-fleet/shared/api';
import type { DeviceScope } from '../infra/scope-sql.js';
import { AuditRepository } from '../infra/audit.repository.js';

/** The audit log as an admin reads it: filtered pages, and the verification of its hash chain. */
@Injectable()
export class AuditService {
  constructor(@Inject(AuditRepository) private readonly audit: AuditRepository) {}

  /** The events whose target lies in a token's `scope` (none: every event). */
  list(q: AuditQuery, scope?: DeviceScope): Promise<AuditPage> {
    return this.audit.list(q, scope);
  }

  verify(): Promise<AuditVerification> {
    return this.audit.verify();
  }
}
