import { Body, Controller, Get, Header, Inject, Post, Req, UseGuards } from '@nestjs/common';
import { PolicyYamlSchema } from '@edge-fleet/shared/api';
import { actorOfRequest, OperatorGuard, type OperatorRequest } from '../auth/operator.guard.js';
import { AppError } from '../errors.js';
import { PolicyDocumentService } from './policy-document.service.js';

/** The policy set as YAML (policies, alert rules, remediation): export, and import all or nothing. */
@Controller('api/v1/policies')
@UseGuards(OperatorGuard)
export class PolicyDocumentController {
  constructor(@Inject(PolicyDocumentService) private readonly document: PolicyDocumentService) {}

  @Get('export.yaml')
  @Header('Content-Type', 'application/yaml; charset=utf-8')
  async exportYaml(): Promise<string> {
    return this.document.exportYaml();
  }

  /** Body: the YAML document as text (Content-Type application/yaml or text/plain). All or nothing. */
  @Post('import')
  async importYaml(@Body() body: unknown, @Req() req: OperatorRequest) {
    const yaml = PolicyYamlSchema.safeParse(body);
    if (!yaml.success)
      throw new AppError('invalid_request', 'send the policy YAML as the request body with Content-Type: application/yaml');
    return this.document.importYaml(yaml.data, actorOfRequest(req));
  }
}
