import { Body, Controller, Get, Header, Inject, Param, Post, Put, Req, UseGuards } from '@nestjs/common';
import { PolicySettingsSchema, ScenarioSchema } from '@edge-fleet/shared';
import { OperatorGuard, operatorOf, type OperatorRequest } from '../auth/operator.guard.js';
import { AppError } from '../errors.js';
import { parseInput } from '../infra/validate.js';
import { policiesFromYaml, policiesToYaml } from './policy-yaml.js';
import { PolicyRepository } from './policy.repository.js';

@Controller('api/v1/policies')
@UseGuards(OperatorGuard)
export class PoliciesController {
  constructor(@Inject(PolicyRepository) private readonly policies: PolicyRepository) {}

  @Get()
  async list() {
    return { items: await this.policies.list() };
  }

  @Get('export.yaml')
  @Header('Content-Type', 'application/yaml; charset=utf-8')
  async exportYaml(): Promise<string> {
    return policiesToYaml(await this.policies.list());
  }

  /** Body: the YAML document as text (Content-Type application/yaml or text/plain). All or nothing. */
  @Post('import')
  async importYaml(@Body() body: unknown, @Req() req: OperatorRequest) {
    if (typeof body !== 'string' || body.length === 0)
      throw new AppError('invalid_request', 'send the policy YAML as the request body with Content-Type: application/yaml');
    const changes = policiesFromYaml(body);
    await this.policies.update(changes, `operator:${operatorOf(req).tokenId}`);
    return { updated: changes.map((c) => c.scenario), items: await this.policies.list() };
  }

  @Put(':scenario')
  async update(@Param('scenario') scenario: string, @Body() body: unknown, @Req() req: OperatorRequest) {
    const s = parseInput(ScenarioSchema, scenario, 'scenario');
    const settings = parseInput(PolicySettingsSchema, body, 'policy');
    await this.policies.update([{ scenario: s, settings }], `operator:${operatorOf(req).tokenId}`);
    return (await this.policies.list()).find((p) => p.scenario === s);
  }
}
