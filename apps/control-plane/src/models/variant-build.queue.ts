import { Inject, Injectable } from '@nestjs/common';
import { z } from 'zod';
import { defineQueue, JobQueues } from '../infra/jobs.js';

/** One variant build per model version (deterministic job id); builds run one at a time, they load the CPU. */
export const VARIANT_BUILDS = defineQueue({
  name: 'variant-build',
  jobs: { 'build-variants': z.strictObject({ modelVersionId: z.uuid() }) },
  defaults: {
    attempts: 3,
    backoff: { type: 'exponential', delay: 5_000 },
    removeOnComplete: { age: 86_400 },
    removeOnFail: { age: 7 * 86_400 },
  },
});

/** The producer of variant builds (enqueue only; the worker's VariantBuildProcessor runs them). */
@Injectable()
export class VariantBuildQueue {
  constructor(@Inject(JobQueues) private readonly jobs: JobQueues) {}

  /** Throws `unavailable` when Redis does not answer now (see JobQueues.assertReachable). */
  assertReachable(): Promise<void> {
    return this.jobs.assertReachable();
  }

  enqueue(modelVersionId: string): Promise<void> {
    return this.jobs.add(VARIANT_BUILDS, 'build-variants', [{ id: `variants-${modelVersionId}`, data: { modelVersionId } }]);
  }
}
