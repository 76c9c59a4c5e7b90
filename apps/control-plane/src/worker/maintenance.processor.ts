import { Inject, Injectable } from '@nestjs/common';
import { DesiredStateService } from '../desired-state/desired-state.service.js';
import type { JobHandlers, JobProcessor } from '../infra/jobs.js';
import { PresenceService } from '../mqtt/presence.service.js';
import { RolloutsService } from '../rollouts/rollouts.service.js';
import { MAINTENANCE } from './maintenance.queue.js';

@Injectable()
export class MaintenanceProcessor implements JobProcessor<typeof MAINTENANCE> {
  readonly queue = MAINTENANCE;
  readonly concurrency = 1;

  constructor(
    @Inject(RolloutsService) private readonly rollouts: RolloutsService,
    @Inject(DesiredStateService) private readonly desired: DesiredStateService,
    @Inject(PresenceService) private readonly presence: PresenceService,
  ) {}

  readonly handlers: JobHandlers<typeof MAINTENANCE> = {
    'sweep-rollouts': () => this.rollouts.sweep(),
    'refresh-manifests': async () => void (await this.desired.refreshExpiringManifests()),
    'sweep-presence': () => this.presence.sweepStale(),
  };
}
