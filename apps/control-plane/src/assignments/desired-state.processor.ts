import { Inject, Injectable } from '@nestjs/common';
import type { JobHandlers, JobProcessor } from '../infra/jobs.js';
import { AssignmentsService } from './assignments.service.js';
import { DESIRED_STATE } from '../desired-state/desired-state.queue.js';

/**
 * Publishes desired states for the desired-state queue: always the device's *latest* state from
 * Postgres, so job order cannot regress it. Runs where the broker is (the api side).
 */
@Injectable()
export class DesiredStateProcessor implements JobProcessor<typeof DESIRED_STATE> {
  readonly queue = DESIRED_STATE;
  readonly concurrency = 50;

  constructor(@Inject(AssignmentsService) private readonly assignments: Pick<AssignmentsService, 'republish' | 'republishMany'>) {}

  readonly handlers: JobHandlers<typeof DESIRED_STATE> = {
    'publish-desired': (job) =>
      'devices' in job ? this.assignments.republishMany(job.devices.map((d) => d.deviceId)) : this.assignments.republish(job.deviceId),
  };
}
