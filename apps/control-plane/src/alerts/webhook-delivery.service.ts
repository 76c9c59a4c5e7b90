import { Inject, Injectable } from '@nestjs/common';
import type { Config } from '../config.js';
import { AppError } from '../errors.js';
import { CONFIG } from '../infra/tokens.js';
import type { Deliver } from './alert-webhook.queue.js';
import { UrlGuard } from './url-guard.js';
import { postSigned } from './webhook-client.js';
import { WebhookSecrets } from './webhook-secrets.js';
import { WebhookRepository } from './webhook.repository.js';

/**
 * Sends one notification to one receiver and records the attempt. The URL is checked again here
 * (a name re-pointed at an internal address since its creation is refused: DNS rebinding), and the
 * connection goes to the address just checked. Any answer but 2xx, a timeout or a refusal is a
 * failed attempt: recorded, then thrown so BullMQ retries it with backoff.
 */
@Injectable()
export class WebhookDeliveryService {
  constructor(
    @Inject(WebhookRepository) private readonly webhooks: WebhookRepository,
    @Inject(WebhookSecrets) private readonly secrets: WebhookSecrets,
    @Inject(UrlGuard) private readonly guard: UrlGuard,
    @Inject(CONFIG) private readonly config: Config,
  ) {}

  async deliver(job: Deliver): Promise<void> {
    const receiver = await this.webhooks.forDelivery(job.receiverId);
    if (!receiver) return; // removed or disabled since: nothing to send
    const attempt = (await this.webhooks.attemptsSoFar(job.notification)) + 1;
    const body = JSON.stringify({ ...job.payload, receiver: receiver.name });
    const started = performance.now();
    let status: number | null = null;
    let error: string | null = null;
    try {
      const target = await this.guard.check(receiver.url);
      ({ status, error } = await postSigned(target, body, this.secrets.open(receiver.secretEnc), this.config.WEBHOOK_TIMEOUT_MS));
      if (error === null && (status === null || status < 200 || status > 299)) error = `receiver answered ${status ?? 'nothing'}`;
    } catch (e) {
      error = e instanceof AppError || e instanceof Error ? e.message : String(e);
    }
    const outcome = error === null ? 'delivered' : 'failed';
    await this.webhooks.record({
      receiverId: job.receiverId,
      alertId: job.alertId,
      notification: job.notification,
      status: job.status,
      attempt,
      outcome,
      httpStatus: status,
      error,
      durationMs: Math.round(performance.now() - started),
    });
    if (error !== null) throw new Error(`webhook ${job.receiverId} attempt ${attempt}: ${error}`);
  }
}
