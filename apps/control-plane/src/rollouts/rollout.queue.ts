import { z } from 'zod';
import { JobQueue } from '../infra/job-queue.js';
import type { Logger } from '../infra/logger.js';
import type { Metrics } from '../infra/metrics.js';

const JobSchema = z.strictObject({ rolloutId: z.uuid(), step: z.int().min(0) });
export type RolloutStepJob = z.infer<typeof JobSchema>;

export interface RolloutQueueOptions {
  redisUrl: string;
  prefix: string;
  /** Advances the rollout if it is still at this step; a stale step does nothing. */
  advance: (job: RolloutStepJob) => Promise<void>;
  log: Logger;
  metrics?: Metrics;
}

/**
 * Wakes rollouts up: one job per (rollout, step) with a deterministic id, so a doubled enqueue (two
 * replicas, a restart's sweep) runs once. The state itself lives in Postgres; a failed step (Postgres
 * away) is retried with backoff, and nothing advances while it fails.
 */
export class RolloutQueue {
  private readonly queue: JobQueue<typeof JobSchema>;

  constructor(o: RolloutQueueOptions) {
    this.queue = new JobQueue({
      queue: 'rollout-steps',
      jobName: 'advance-rollout',
      schema: JobSchema,
      redisUrl: o.redisUrl,
      prefix: o.prefix,
      concurrency: 4,
      handle: o.advance,
      defaults: {
        attempts: 30,
        backoff: { type: 'exponential', delay: 1_000 },
        removeOnComplete: { age: 7 * 86_400, count: 100_000 },
        removeOnFail: { age: 7 * 86_400 },
      },
      log: o.log,
      metrics: o.metrics,
    });
  }

  start(): Promise<void> {
    return this.queue.start();
  }

  enqueue(job: RolloutStepJob, delayMs = 0): Promise<void> {
    return this.queue.enqueue([{ id: `rollout-${job.rolloutId}-${job.step}`, data: job, delayMs }]);
  }

  stop(): Promise<void> {
    return this.queue.stop();
  }
}
