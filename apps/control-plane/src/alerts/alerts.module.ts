import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module.js';
import type { Config } from '../config.js';
import { CONFIG } from '../infra/tokens.js';
import { AlertEvaluationRepository } from './alert-evaluation.repository.js';
import { AlertEvaluator } from './alert-evaluator.service.js';
import { AlertEvents } from './alert-events.js';
import { AlertRuleRepository } from './alert-rule.repository.js';
import { AlertWebhookProcessor } from './alert-webhook.processor.js';
import { AlertRepository } from './alert.repository.js';
import { AlertRulesController, AlertsController, SilencesController, WebhooksController } from './alerts.controller.js';
import { AlertsService } from './alerts.service.js';
import { parseAllowList, UrlGuard } from './url-guard.js';
import { WebhookDeliveryService } from './webhook-delivery.service.js';
import { WebhookSecrets } from './webhook-secrets.js';
import { WebhookRepository } from './webhook.repository.js';

/**
 * Alerts (M15). Exports the evaluator (the maintenance schedule runs it), the webhook processor (the
 * worker runs it), the service (tRPC calls it), AlertEvents (where other modules subscribe to
 * alert transitions) and the rule repository (the policy document writes rules in its transaction).
 */
@Module({
  imports: [AuthModule],
  controllers: [AlertsController, AlertRulesController, SilencesController, WebhooksController],
  providers: [
    AlertsService,
    AlertEvaluator,
    AlertEvents,
    AlertEvaluationRepository,
    AlertRuleRepository,
    AlertRepository,
    WebhookRepository,
    WebhookDeliveryService,
    AlertWebhookProcessor,
    { provide: UrlGuard, useFactory: (c: Config) => new UrlGuard(parseAllowList(c.WEBHOOK_ALLOWED_CIDRS)), inject: [CONFIG] },
    { provide: WebhookSecrets, useFactory: (c: Config) => WebhookSecrets.open(c.signingKeysDir), inject: [CONFIG] },
  ],
  exports: [AlertsService, AlertEvaluator, AlertEvents, AlertWebhookProcessor, AlertRuleRepository],
})
export class AlertsModule {}
