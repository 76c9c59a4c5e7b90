import { Inject, Injectable } from '@nestjs/common';
import { AlertEvaluator } from '../alerts/alert-evaluator.service.js';
import { DesiredStateService } from '../desired-state/desired-state.service.js';
import type { JobHandlers, JobProcessor } from '../infra/jobs.js';
import { PresenceService } from '../mqtt/presence.service.js';
import { RolloutsService } from '../rollouts/rollouts.service.js';
import { TelemetryRetentionService } from '../telemetry/telemetry-retention.service.js';
import { MAINTENANCE } from './maintenance.queue.js';

@Injectable()
export class MaintenanceProcessor implements JobProcessor<typeof MAINTENANCE> {
  readonly queue = MAINTENANCE;
  readonly concurrency = 1;

  constructor(
    @Inject(RolloutsService) private readonly rollouts: RolloutsService,
    @Inject(DesiredStateService) private readonly desired: DesiredStateService,
    @Inject(PresenceService) private readonly presence: PresenceService,
    @Inject(AlertEvaluator) private readonly alerts: AlertEvaluator,
    @Inject(TelemetryRetentionService) private readonly retention: TelemetryRetentionService,
  ) {}

  readonly handlers: JobHandlers<typeof MAINTENANCE> = {
    'sweep-rollouts': () => this.rollouts.sweep(),
    'refresh-manifests': async () => void (await this.desired.refreshExpiringManifests()),
    'sweep-presence': () => this.presence.sweepStale(),
    // "now" is the job's run time: a pass reads only what is stored, so a late job is still right
    'evaluate-alerts': async () => void (await this.alerts.evaluate(new Date())),
    'telemetry-retention': async () => void (await this.retention.run(new Date())),
  };
}
