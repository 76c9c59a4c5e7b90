import { Inject, Injectable } from '@nestjs/common';
import type { JobHandlers, JobProcessor } from '../infra/jobs.js';
import { AssignmentsService } from './assignments.service.js';
import { DESIRED_STATE } from '../desired-state/desired-state.queue.js';
import { PublishedVersions } from '../desired-state/published-versions.js';

/**
 * Publishes desired states for the desired-state queue: always the device's *latest* state from
 * Postgres, so job order cannot regress it; a fallback job (`unlessPublished`) only for the devices
 * whose state of that number no one claimed for publishing. Runs where the broker is (the api side).
 */
@Injectable()
export class DesiredStateProcessor implements JobProcessor<typeof DESIRED_STATE> {
  readonly queue = DESIRED_STATE;
  readonly concurrency = 50;

  constructor(
    @Inject(AssignmentsService) private readonly assignments: Pick<AssignmentsService, 'republish' | 'republishMany'>,
    @Inject(PublishedVersions) private readonly published: Pick<PublishedVersions, 'unpublished'>,
  ) {}

  readonly handlers: JobHandlers<typeof DESIRED_STATE> = {
    'publish-desired': async (job) => {
      if (!('devices' in job)) return this.assignments.republish(job.deviceId);
      const ids = job.unlessPublished
        ? await this.published.unpublished(job.devices.map((d) => ({ deviceId: d.deviceId, version: d.assignmentVersion })))
        : job.devices.map((d) => d.deviceId);
      if (ids.length > 0) await this.assignments.republishMany(ids);
    },
  };
}
