import { Inject, Injectable } from '@nestjs/common';
import type { JobHandlers, JobProcessor } from '../infra/jobs.js';
import { ROLLOUT_STEPS } from './rollout.queue.js';
import { RolloutsService } from './rollouts.service.js';

/** Runs rollout steps (worker side): advances a rollout if it is still at the job's step; a stale step does nothing. */
@Injectable()
export class RolloutProcessor implements JobProcessor<typeof ROLLOUT_STEPS> {
  readonly queue = ROLLOUT_STEPS;
  readonly concurrency = 4;

  constructor(@Inject(RolloutsService) private readonly rollouts: RolloutsService) {}

  readonly handlers: JobHandlers<typeof ROLLOUT_STEPS> = {
    'advance-rollout': (job) => this.rollouts.advance(job),
  };
}
