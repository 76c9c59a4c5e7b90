import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Put, Query, Req, UseGuards } from '@nestjs/common';
import { AlertIdParamsSchema, AlertListQuerySchema, CreateSilenceSchema, CreateWebhookSchema } from '@edge-fleet/shared/api';
import { z } from 'zod';
import { actorOfRequest, OperatorGuard, operatorOf, type OperatorRequest } from '../auth/operator.guard.js';
import { NeedsRole } from '../auth/roles.js';
import { scopeOf } from '../auth/scope.js';
import { parseInput } from '../infra/validate.js';
import { AlertsService } from './alerts.service.js';

const idOf = (params: unknown, what: string) => parseInput(AlertIdParamsSchema, params, what).id;
const SilenceListQuerySchema = z.strictObject({ expired: z.enum(['true', 'false']).default('false') });

/** Alerts of the token's scope: a scoped token sees those of its devices and rollouts only. */
@Controller('api/v1/alerts')
@UseGuards(OperatorGuard)
export class AlertsController {
  constructor(@Inject(AlertsService) private readonly alerts: AlertsService) {}

  @Get()
  async list(@Query() query: unknown, @Req() req: OperatorRequest) {
    return this.alerts.list(parseInput(AlertListQuerySchema, query, 'query'), scopeOf(operatorOf(req)));
  }

  @Get(':id')
  async get(@Param() params: unknown, @Req() req: OperatorRequest) {
    return this.alerts.get(idOf(params, 'alert id'), scopeOf(operatorOf(req)));
  }
}

@Controller('api/v1/alert-rules')
@UseGuards(OperatorGuard)
export class AlertRulesController {
  constructor(@Inject(AlertsService) private readonly alerts: AlertsService) {}

  @Get()
  async list() {
    return { items: await this.alerts.listRules() };
  }

  @Post()
  @HttpCode(201)
  async create(@Body() body: unknown, @Req() req: OperatorRequest) {
    return this.alerts.createRule(body, actorOfRequest(req));
  }

  @Put(':id')
  async update(@Param() params: unknown, @Body() body: unknown, @Req() req: OperatorRequest) {
    return this.alerts.updateRule(idOf(params, 'alert rule id'), body, actorOfRequest(req));
  }

  @Delete(':id')
  @HttpCode(204)
  async remove(@Param() params: unknown, @Req() req: OperatorRequest): Promise<void> {
    await this.alerts.deleteRule(idOf(params, 'alert rule id'), actorOfRequest(req));
  }
}

@Controller('api/v1/silences')
@UseGuards(OperatorGuard)
export class SilencesController {
  constructor(@Inject(AlertsService) private readonly alerts: AlertsService) {}

  @Get()
  async list(@Query() query: unknown) {
    return { items: await this.alerts.listSilences(parseInput(SilenceListQuerySchema, query, 'query').expired === 'true') };
  }

  @Post()
  @HttpCode(201)
  async create(@Body() body: unknown, @Req() req: OperatorRequest) {
    return this.alerts.createSilence(parseInput(CreateSilenceSchema, body, 'silence'), actorOfRequest(req));
  }

  /** Expires the silence now; it stays listed (with `?expired=true`). */
  @Delete(':id')
  async expire(@Param() params: unknown, @Req() req: OperatorRequest) {
    return this.alerts.expireSilence(idOf(params, 'silence id'), actorOfRequest(req));
  }
}

/** Receivers get fleet data and hold a signing secret: adding or removing one is an admin's. */
@Controller('api/v1/webhooks')
@UseGuards(OperatorGuard)
export class WebhooksController {
  constructor(@Inject(AlertsService) private readonly alerts: AlertsService) {}

  @Get()
  async list() {
    return { items: await this.alerts.listWebhooks() };
  }

  @Post()
  @HttpCode(201)
  @NeedsRole('admin')
  async create(@Body() body: unknown, @Req() req: OperatorRequest) {
    return this.alerts.createWebhook(parseInput(CreateWebhookSchema, body, 'webhook'), actorOfRequest(req));
  }

  @Delete(':id')
  @HttpCode(204)
  @NeedsRole('admin')
  async remove(@Param() params: unknown, @Req() req: OperatorRequest): Promise<void> {
    await this.alerts.deleteWebhook(idOf(params, 'webhook id'), actorOfRequest(req));
  }

  /** A scoped token sees the deliveries of its scope's alerts only. */
  @Get(':id/deliveries')
  async deliveries(@Param() params: unknown, @Req() req: OperatorRequest) {
    return { items: await this.alerts.deliveries(idOf(params, 'webhook id'), scopeOf(operatorOf(req))) };
  }
}
