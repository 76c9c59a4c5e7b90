import { Inject, Injectable } from '@nestjs/common';
import { z } from 'zod';
import { defineQueue, JobQueues, type JobData } from '../infra/jobs.js';

/**
 * Wakes rollouts up: one `advance-rollout` job per (rollout, step) with a deterministic id, so a
 * doubled enqueue (two replicas, a sweep) runs once. The state itself lives in Postgres; a failed
 * step (Postgres away) is retried with backoff, and nothing advances while it fails.
 */
export const ROLLOUT_STEPS = defineQueue({
  name: 'rollout-steps',
  jobs: { 'advance-rollout': z.strictObject({ rolloutId: z.uuid(), step: z.int().min(0) }) },
  defaults: {
    attempts: 30,
    backoff: { type: 'exponential', delay: 1_000 },
    removeOnComplete: { age: 7 * 86_400, count: 100_000 },
    removeOnFail: { age: 7 * 86_400 },
  },
});

export type RolloutStepJob = JobData<typeof ROLLOUT_STEPS, 'advance-rollout'>;

/** The producer of rollout steps (enqueue only; the worker's RolloutProcessor runs them). */
@Injectable()
export class RolloutQueue {
  constructor(@Inject(JobQueues) private readonly jobs: JobQueues) {}

  /** Throws `unavailable` when Redis does not answer now (see JobQueues.assertReachable). */
  assertReachable(): Promise<void> {
    return this.jobs.assertReachable();
  }

  enqueue(job: RolloutStepJob, delayMs = 0): Promise<void> {
    return this.jobs.add(ROLLOUT_STEPS, 'advance-rollout', [{ id: `rollout-${job.rolloutId}-${job.step}`, data: job, delayMs }]);
  }
}
