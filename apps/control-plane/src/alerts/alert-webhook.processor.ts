import { Inject, Injectable } from '@nestjs/common';
import type { JobHandlers, JobProcessor } from '../infra/jobs.js';
import { ALERT_WEBHOOKS } from './alert-webhook.queue.js';
import { WebhookDeliveryService } from './webhook-delivery.service.js';

@Injectable()
export class AlertWebhookProcessor implements JobProcessor<typeof ALERT_WEBHOOKS> {
  readonly queue = ALERT_WEBHOOKS;
  /** Several at once: a receiver that hangs until its timeout occupies one slot, not the queue. */
  readonly concurrency = 16;

  constructor(@Inject(WebhookDeliveryService) private readonly delivery: WebhookDeliveryService) {}

  readonly handlers: JobHandlers<typeof ALERT_WEBHOOKS> = {
    deliver: (data) => this.delivery.deliver(data),
  };
}
