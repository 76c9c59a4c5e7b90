import { z } from 'zod';
import { JobQueue } from '../infra/job-queue.js';
import type { Logger } from '../infra/logger.js';
import type { Metrics } from '../infra/metrics.js';

const JobSchema = z.strictObject({ modelVersionId: z.uuid() });

/** One variant build per model version (deterministic job id); builds run one at a time, they load the CPU. */
export class VariantBuildQueue {
  private readonly queue: JobQueue<typeof JobSchema>;

  constructor(o: { redisUrl: string; prefix: string; build: (modelVersionId: string) => Promise<void>; log: Logger; metrics?: Metrics }) {
    this.queue = new JobQueue({
      queue: 'variant-build',
      jobName: 'build-variants',
      schema: JobSchema,
      redisUrl: o.redisUrl,
      prefix: o.prefix,
      concurrency: 1,
      handle: (job) => o.build(job.modelVersionId),
      defaults: {
        attempts: 3,
        backoff: { type: 'exponential', delay: 5_000 },
        removeOnComplete: { age: 86_400 },
        removeOnFail: { age: 7 * 86_400 },
      },
      log: o.log,
      metrics: o.metrics,
    });
  }

  start(): Promise<void> {
    return this.queue.start();
  }

  enqueue(modelVersionId: string): Promise<void> {
    return this.queue.enqueue([{ id: `variants-${modelVersionId}`, data: { modelVersionId } }]);
  }

  stop(): Promise<void> {
    return this.queue.stop();
  }
}
