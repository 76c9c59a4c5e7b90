import { Controller, Get, Inject, Query, Req, UseGuards } from '@nestjs/common';
import { AuditQuerySchema } from '@edge-fleet/shared/api';
import { OperatorGuard, operatorOf, type OperatorRequest } from '../auth/operator.guard.js';
import { NeedsRole } from '../auth/roles.js';
import { FleetWideRead, scopeOf } from '../auth/scope.js';
import { parseInput } from '../infra/validate.js';
import { AuditService } from './audit.service.js';

/**
 * Who did what: every route needs the auditor or admin role (the log names every token and device
 * acted on). A scoped auditor lists the events of its scope's targets; the chain's verification is
 * the whole log's, so it is refused (scope.ts).
 */
@Controller('api/v1/audit')
@UseGuards(OperatorGuard)
@NeedsRole('auditor')
export class AuditController {
  constructor(@Inject(AuditService) private readonly audit: AuditService) {}

  @Get()
  async list(@Query() query: unknown, @Req() req: OperatorRequest) {
    return this.audit.list(parseInput(AuditQuerySchema, query, 'audit query'), scopeOf(operatorOf(req)));
  }

  @Get('verify')
  @FleetWideRead()
  async verify() {
    return this.audit.verify();
  }
}
