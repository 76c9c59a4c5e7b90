import { Body, Controller, Get, HttpCode, Inject, Param, Post, Req, UseGuards } from '@nestjs/common';
import { CreateRolloutSchema } from '@edge-fleet/shared';
import { RolloutActionParamsSchema, RolloutIdParamsSchema } from '@edge-fleet/shared/api';
import { actorOfRequest, OperatorGuard, operatorOf, type OperatorRequest } from '../auth/operator.guard.js';
import { ScenarioSubject, scopeOf } from '../auth/scope.js';
import { parseInput } from '../infra/validate.js';
import { RolloutsService } from './rollouts.service.js';

@Controller('api/v1/rollouts')
@UseGuards(OperatorGuard)
export class RolloutsController {
  constructor(@Inject(RolloutsService) private readonly rollouts: RolloutsService) {}

  @Post()
  @HttpCode(201)
  @ScenarioSubject('body.target.scenario')
  async create(@Body() body: unknown, @Req() req: OperatorRequest) {
    return this.rollouts.create(parseInput(CreateRolloutSchema, body, 'rollout'), actorOfRequest(req));
  }

  /** A scoped token sees only the rollouts confined to its scope. */
  @Get()
  async list(@Req() req: OperatorRequest) {
    return { items: await this.rollouts.list(scopeOf(operatorOf(req))) };
  }

  @Get(':id')
  async get(@Param() params: unknown, @Req() req: OperatorRequest) {
    return this.rollouts.get(parseInput(RolloutIdParamsSchema, params, 'rollout id').id, scopeOf(operatorOf(req)));
  }

  /** pause | resume | abort | approve */
  @Post(':id/:action')
  @HttpCode(200)
  async act(@Param() params: unknown, @Req() req: OperatorRequest) {
    const { id, action } = parseInput(RolloutActionParamsSchema, params, 'rollout action');
    return this.rollouts[action](id, actorOfRequest(req));
  }
}
