import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Req, UseGuards } from '@nestjs/common';
import { ApiTokenIdParamsSchema, CreateApiTokenSchema } from '@edge-fleet/shared/api';
import { parseInput } from '../infra/validate.js';
import { ApiTokensService } from './api-tokens.service.js';
import { OperatorAuthService, actorOf } from './operator-auth.service.js';
import { OperatorGuard, operatorOf, type OperatorRequest } from './operator.guard.js';
import { NeedsRole } from './roles.js';

/** Operator API tokens: every route is an admin's (they are credentials). */
@Controller('api/v1/tokens')
@UseGuards(OperatorGuard)
@NeedsRole('admin')
export class TokensController {
  constructor(@Inject(ApiTokensService) private readonly tokens: ApiTokensService) {}

  @Get()
  async list() {
    return { items: await this.tokens.list() };
  }

  @Post()
  @HttpCode(201)
  async create(@Body() body: unknown, @Req() req: OperatorRequest) {
    return this.tokens.create(parseInput(CreateApiTokenSchema, body, 'API token'), actorOf(operatorOf(req)));
  }

  @Post(':id/rotate')
  @HttpCode(200)
  async rotate(@Param() params: unknown, @Req() req: OperatorRequest) {
    const { id } = parseInput(ApiTokenIdParamsSchema, params, 'token id');
    return this.tokens.rotate(id, actorOf(operatorOf(req)));
  }

  @Post(':id/revoke')
  @HttpCode(200)
  async revoke(@Param() params: unknown, @Req() req: OperatorRequest) {
    const { id } = parseInput(ApiTokenIdParamsSchema, params, 'token id');
    return this.tokens.revoke(id, actorOf(operatorOf(req)));
  }
}

/** Dashboard sessions: an operator token exchanged for a revocable session credential, and sign-out. */
@Controller('api/v1/sessions')
@UseGuards(OperatorGuard)
@NeedsRole('viewer')
export class SessionsController {
  constructor(@Inject(OperatorAuthService) private readonly auth: OperatorAuthService) {}

  @Post()
  @HttpCode(201)
  async open(@Req() req: OperatorRequest) {
    return this.auth.openSession(operatorOf(req), req.ip ?? req.socket.remoteAddress ?? 'unknown');
  }

  @Delete('current')
  @HttpCode(204)
  async close(@Req() req: OperatorRequest): Promise<void> {
    await this.auth.closeSession(operatorOf(req));
  }
}
