import { z } from 'zod';
import type { Config } from '../config.js';
import { defineQueue, type QueueDefinition } from '../infra/jobs.js';

/** One notification (an alert's firing or resolution) to one receiver, in Alertmanager's webhook shape. */
export const DeliverSchema = z.strictObject({
  receiverId: z.uuid(),
  alertId: z.uuid(),
  status: z.enum(['firing', 'resolved']),
  /** The job id: attempts of this notification are counted by it. */
  notification: z.string().min(1).max(200),
  payload: z.record(z.string(), z.unknown()),
});
export type Deliver = z.infer<typeof DeliverSchema>;

/**
 * Webhook deliveries. Each (notification, receiver) is its own job, so a receiver that hangs or
 * fails holds up only its own retries; BullMQ retries with exponential backoff.
 */
export const ALERT_WEBHOOKS = defineQueue({
  name: 'alert-webhooks',
  jobs: { deliver: DeliverSchema },
  defaults: {
    attempts: 6,
    backoff: { type: 'exponential', delay: 2_000 },
    removeOnComplete: { count: 1_000 },
    removeOnFail: { count: 5_000 },
  },
});

/** The queue with the configured retry policy. */
export function alertWebhooksQueue(config: Config): typeof ALERT_WEBHOOKS {
  const def: QueueDefinition<typeof ALERT_WEBHOOKS.jobs> = {
    ...ALERT_WEBHOOKS,
    defaults: {
      ...ALERT_WEBHOOKS.defaults,
      attempts: config.WEBHOOK_ATTEMPTS,
      backoff: { type: 'exponential', delay: config.WEBHOOK_BACKOFF_MS },
    },
  };
  return def;
}
