import { Inject, Injectable } from '@nestjs/common';
import type { AuditPage, AuditQuery, AuditVerification } from '@edge-fleet/shared/api';
import { AuditRepository } from '../infra/audit.repository.js';

/** The audit log as an admin reads it: filtered pages, and the verification of its hash chain. */
@Injectable()
export class AuditService {
  constructor(@Inject(AuditRepository) private readonly audit: AuditRepository) {}

  list(q: AuditQuery): Promise<AuditPage> {
    return this.audit.list(q);
  }

  verify(): Promise<AuditVerification> {
    return this.audit.verify();
  }
}
