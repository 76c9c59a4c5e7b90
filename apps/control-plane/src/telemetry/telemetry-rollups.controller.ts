import { Body, Controller, Get, HttpCode, Inject, Post, Req, UseGuards } from '@nestjs/common';
import { RequeueParkedSchema } from '@edge-fleet/shared/api';
import { actorOfRequest, OperatorGuard, type OperatorRequest } from '../auth/operator.guard.js';
import { NeedsRole } from '../auth/roles.js';
import { FleetWideRead } from '../auth/scope.js';
import { parseInput } from '../infra/validate.js';
import { TelemetryRollupFoldService } from './telemetry-rollup-fold.service.js';

/** The telemetry rollups' fold, as an operator sees it: the windows it set aside, and moving them back. */
@Controller('api/v1/telemetry/rollups')
@UseGuards(OperatorGuard)
export class TelemetryRollupsController {
  constructor(@Inject(TelemetryRollupFoldService) private readonly folds: TelemetryRollupFoldService) {}

  /** Windows of any device: only an unscoped token reads them. */
  @Get('parked')
  @FleetWideRead()
  async parked() {
    return this.folds.parked();
  }

  /** Once the cause is fixed: every parked window goes back to the fold (audited). */
  @Post('parked/requeue')
  @HttpCode(200)
  @NeedsRole('admin')
  async requeue(@Body() body: unknown, @Req() req: OperatorRequest) {
    const { reason } = parseInput(RequeueParkedSchema, body, 'requeue of parked telemetry windows');
    return this.folds.requeueParked(actorOfRequest(req), reason);
  }
}
