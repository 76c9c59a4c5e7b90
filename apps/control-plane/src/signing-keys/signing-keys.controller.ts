import { Body, Controller, Get, HttpCode, Inject, Post, Req, UseGuards } from '@nestjs/common';
import { RotateSigningKeySchema } from '@edge-fleet/shared/api';
import { actorOfRequest, OperatorGuard, type OperatorRequest } from '../auth/operator.guard.js';
import { NeedsRole } from '../auth/roles.js';
import { parseInput } from '../infra/validate.js';
import { SigningKeysService } from './signing-keys.service.js';

@Controller('api/v1/signing-key')
@UseGuards(OperatorGuard)
export class SigningKeysController {
  constructor(@Inject(SigningKeysService) private readonly keys: SigningKeysService) {}

  @Get()
  async status() {
    return this.keys.status();
  }

  /** Certifies a new signing key, revoking the old one for every device that accepts a state under it. */
  @Post('rotate')
  @HttpCode(200)
  @NeedsRole('admin')
  async rotate(@Body() body: unknown, @Req() req: OperatorRequest) {
    const { reason } = parseInput(RotateSigningKeySchema, body, 'signing-key rotation');
    return this.keys.rotate(actorOfRequest(req), reason);
  }
}
