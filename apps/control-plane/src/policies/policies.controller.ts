import { Body, Controller, Get, Header, Inject, Param, Post, Put, Req, UseGuards } from '@nestjs/common';
import { PolicySettingsSchema } from '@edge-fleet/shared';
import { PolicyYamlSchema, ScenarioParamsSchema } from '@edge-fleet/shared/api';
import { OperatorGuard, operatorOf, type OperatorRequest } from '../auth/operator.guard.js';
import { ScenarioSubject } from '../auth/scope.js';
import { AppError } from '../errors.js';
import { parseInput } from '../infra/validate.js';
import { PoliciesService } from './policies.service.js';

@Controller('api/v1/policies')
@UseGuards(OperatorGuard)
export class PoliciesController {
  constructor(@Inject(PoliciesService) private readonly policies: PoliciesService) {}

  @Get()
  async list() {
    return { items: await this.policies.list() };
  }

  @Get('export.yaml')
  @Header('Content-Type', 'application/yaml; charset=utf-8')
  async exportYaml(): Promise<string> {
    return this.policies.exportYaml();
  }

  /** Body: the YAML document as text (Content-Type application/yaml or text/plain). All or nothing. */
  @Post('import')
  async importYaml(@Body() body: unknown, @Req() req: OperatorRequest) {
    const yaml = PolicyYamlSchema.safeParse(body);
    if (!yaml.success)
      throw new AppError('invalid_request', 'send the policy YAML as the request body with Content-Type: application/yaml');
    return this.policies.importYaml(yaml.data, `operator:${operatorOf(req).tokenId}`);
  }

  @Put(':scenario')
  @ScenarioSubject('params.scenario')
  async update(@Param() params: unknown, @Body() body: unknown, @Req() req: OperatorRequest) {
    const { scenario } = parseInput(ScenarioParamsSchema, params, 'scenario');
    const settings = parseInput(PolicySettingsSchema, body, 'policy');
    return this.policies.update(scenario, settings, `operator:${operatorOf(req).tokenId}`);
  }
}
