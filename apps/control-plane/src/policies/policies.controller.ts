import { Body, Controller, Get, Inject, Param, Put, Req, UseGuards } from '@nestjs/common';
import { PolicySettingsSchema } from '@edge-fleet/shared';
import { ScenarioParamsSchema } from '@edge-fleet/shared/api';
import { actorOfRequest, OperatorGuard, type OperatorRequest } from '../auth/operator.guard.js';
import { ScenarioSubject } from '../auth/scope.js';
import { parseInput } from '../infra/validate.js';
import { PoliciesService } from './policies.service.js';

/** The policy set's list and per-scenario edits; its YAML export and import are policy-document/'s. */
@Controller('api/v1/policies')
@UseGuards(OperatorGuard)
export class PoliciesController {
  constructor(@Inject(PoliciesService) private readonly policies: PoliciesService) {}

  @Get()
  async list() {
    return { items: await this.policies.list() };
  }

  @Put(':scenario')
  @ScenarioSubject('params.scenario')
  async update(@Param() params: unknown, @Body() body: unknown, @Req() req: OperatorRequest) {
    const { scenario } = parseInput(ScenarioParamsSchema, params, 'scenario');
    const settings = parseInput(PolicySettingsSchema, body, 'policy');
    return this.policies.update(scenario, settings, actorOfRequest(req));
  }
}
