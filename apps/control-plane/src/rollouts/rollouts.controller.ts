import { Body, Controller, Get, HttpCode, Inject, Param, Post, Req, UseGuards } from '@nestjs/common';
import { CreateRolloutSchema } from '@edge-fleet/shared';
import { z } from 'zod';
import { OperatorGuard, operatorOf, type OperatorRequest } from '../auth/operator.guard.js';
import { parseInput } from '../infra/validate.js';
import { RolloutsService } from './rollouts.service.js';

const IdSchema = z.uuid();
const ACTIONS = ['pause', 'resume', 'abort', 'approve'] as const;
const ActionSchema = z.enum(ACTIONS, { error: (i) => `unknown action ${JSON.stringify(i.input)}; use one of ${ACTIONS.join(', ')}` });

@Controller('api/v1/rollouts')
@UseGuards(OperatorGuard)
export class RolloutsController {
  constructor(@Inject(RolloutsService) private readonly rollouts: RolloutsService) {}

  @Post()
  @HttpCode(201)
  async create(@Body() body: unknown, @Req() req: OperatorRequest) {
    return this.rollouts.create(parseInput(CreateRolloutSchema, body, 'rollout'), `operator:${operatorOf(req).tokenId}`);
  }

  @Get()
  async list() {
    return { items: await this.rollouts.list() };
  }

  @Get(':id')
  async get(@Param('id') id: string) {
    return this.rollouts.get(parseInput(IdSchema, id, 'rollout id'));
  }

  /** pause | resume | abort | approve */
  @Post(':id/:action')
  @HttpCode(200)
  async act(@Param('id') id: string, @Param('action') action: string, @Req() req: OperatorRequest) {
    const rolloutId = parseInput(IdSchema, id, 'rollout id');
    const a = parseInput(ActionSchema, action, 'action');
    return this.rollouts[a](rolloutId, `operator:${operatorOf(req).tokenId}`);
  }
}
