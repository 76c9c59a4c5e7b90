import { Controller, Get, Inject, Query, UseGuards } from '@nestjs/common';
import { AuditQuerySchema } from '@edge-fleet/shared/api';
import { OperatorGuard } from '../auth/operator.guard.js';
import { NeedsRole } from '../auth/roles.js';
import { FleetWideRead } from '../auth/scope.js';
import { parseInput } from '../infra/validate.js';
import { AuditService } from './audit.service.js';

/** Who did what: every route needs the auditor or admin role (the log names every token and device acted on). */
@Controller('api/v1/audit')
@UseGuards(OperatorGuard)
@NeedsRole('auditor')
@FleetWideRead()
export class AuditController {
  constructor(@Inject(AuditService) private readonly audit: AuditService) {}

  @Get()
  async list(@Query() query: unknown) {
    return this.audit.list(parseInput(AuditQuerySchema, query, 'audit query'));
  }

  @Get('verify')
  async verify() {
    return this.audit.verify();
  }
}
