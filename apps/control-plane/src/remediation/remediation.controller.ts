import { Body, Controller, Get, HttpCode, Inject, Param, Post, Put, Query, Req, UseGuards } from '@nestjs/common';
import {
  DeviceIdParamsSchema,
  RemediationDecisionSchema,
  RemediationIdParamsSchema,
  RemediationListQuerySchema,
  RemediationScenarioParamsSchema,
} from '@edge-fleet/shared/api';
import { actorOfRequest, OperatorGuard, operatorOf, type OperatorRequest } from '../auth/operator.guard.js';
import { DeviceSubject, ScenarioSubject, scopeOf } from '../auth/scope.js';
import { parseInput } from '../infra/validate.js';
import { RemediationService } from './remediation.service.js';

@Controller('api/v1/remediation')
@UseGuards(OperatorGuard)
export class RemediationController {
  constructor(@Inject(RemediationService) private readonly remediation: RemediationService) {}

  @Get('settings')
  async settings() {
    return { items: await this.remediation.settings() };
  }

  @Put('settings/:scenario')
  @ScenarioSubject('params.scenario')
  async updateSettings(@Param() params: unknown, @Body() body: unknown, @Req() req: OperatorRequest) {
    const { scenario } = parseInput(RemediationScenarioParamsSchema, params, 'scenario');
    return this.remediation.updateSettings(scenario, body, actorOfRequest(req));
  }

  /** The remediation log, newest first: a scoped token's devices only. */
  @Get('actions')
  async list(@Query() query: unknown, @Req() req: OperatorRequest) {
    return this.remediation.list(parseInput(RemediationListQuerySchema, query, 'query'), scopeOf(operatorOf(req)));
  }

  @Get('actions/:id')
  async get(@Param() params: unknown, @Req() req: OperatorRequest) {
    return this.remediation.get(parseInput(RemediationIdParamsSchema, params, 'remediation action id').id, scopeOf(operatorOf(req)));
  }

  @Post('actions/:id/approve')
  @HttpCode(200)
  async approve(@Param() params: unknown, @Body() body: unknown, @Req() req: OperatorRequest) {
    const { id } = parseInput(RemediationIdParamsSchema, params, 'remediation action id');
    return this.remediation.approve(id, actorOfRequest(req), parseInput(RemediationDecisionSchema, body ?? {}, 'decision').comment);
  }

  @Post('actions/:id/reject')
  @HttpCode(200)
  async reject(@Param() params: unknown, @Body() body: unknown, @Req() req: OperatorRequest) {
    const { id } = parseInput(RemediationIdParamsSchema, params, 'remediation action id');
    return this.remediation.reject(id, actorOfRequest(req), parseInput(RemediationDecisionSchema, body ?? {}, 'decision').comment);
  }

  /** What remediation has put on one device now, and its latest actions (the device page). */
  @Get('devices/:id')
  @DeviceSubject('params.id')
  async device(@Param() params: unknown) {
    return this.remediation.device(parseInput(DeviceIdParamsSchema, params, 'device id').id);
  }
}
