import { z } from 'zod';
import { JobQueue } from '../infra/job-queue.js';
import type { Logger } from '../infra/logger.js';

const JobSchema = z.strictObject({ deviceId: z.uuid(), assignmentVersion: z.int().min(0) });
/** `delayMs`: a rollout spreads its notifications over time (rate limit with jitter). */
export type PublishDesiredJob = z.infer<typeof JobSchema> & { delayMs?: number };

export interface DesiredStateQueueOptions {
  redisUrl: string;
  prefix: string;
  /** Publishes the device's *latest* desired state from Postgres (so job order cannot regress it). */
  publishLatest: (deviceId: string) => Promise<void>;
  log: Logger;
  concurrency?: number;
}

/**
 * Fan-out of desired states to devices through BullMQ: one job per (device, assignment version)
 * with a deterministic id, so a retried or doubled enqueue publishes once, and a failed publish
 * (broker away) is retried with backoff instead of being lost.
 */
export class DesiredStateQueue {
  private readonly queue: JobQueue<typeof JobSchema>;

  constructor(o: DesiredStateQueueOptions) {
    this.queue = new JobQueue({
      queue: 'desired-state',
      jobName: 'publish-desired',
      schema: JobSchema,
      redisUrl: o.redisUrl,
      prefix: o.prefix,
      concurrency: o.concurrency ?? 50,
      handle: (job) => o.publishLatest(job.deviceId),
      defaults: { attempts: 10, backoff: { type: 'exponential', delay: 500 }, removeOnComplete: { age: 3_600, count: 10_000 }, removeOnFail: { age: 86_400 } },
      log: o.log,
    });
  }

  start(): Promise<void> {
    return this.queue.start();
  }

  enqueue(jobs: PublishDesiredJob[]): Promise<void> {
    return this.queue.enqueue(jobs.map(({ delayMs, ...data }) => ({ id: `desired-${data.deviceId}-${data.assignmentVersion}`, data, ...(delayMs ? { delayMs } : {}) })));
  }

  stop(): Promise<void> {
    return this.queue.stop();
  }
}
