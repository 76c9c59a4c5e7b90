import { Inject, Injectable } from '@nestjs/common';
import { AlertEvaluator } from '../alerts/alert-evaluator.service.js';
import { ApiTokensService } from '../auth/api-tokens.service.js';
import { DesiredStateService } from '../desired-state/desired-state.service.js';
import type { JobHandlers, JobProcessor } from '../infra/jobs.js';
import { PresenceService } from '../mqtt/presence.service.js';
import { RemediationService } from '../remediation/remediation.service.js';
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
    @Inject(RemediationService) private readonly remediation: RemediationService,
    @Inject(TelemetryRetentionService) private readonly retention: TelemetryRetentionService,
    @Inject(ApiTokensService) private readonly tokens: ApiTokensService,
  ) {}

  readonly handlers: JobHandlers<typeof MAINTENANCE> = {
    'sweep-rollouts': () => this.rollouts.sweep(),
    'refresh-manifests': async () => void (await this.desired.refreshExpiringManifests()),
    'refresh-hybrid-grants': async () => void (await this.desired.refreshHybridGrants()),
    'sweep-presence': () => this.presence.sweepStale(),
    // "now" is the job's run time: a pass reads only what is stored, so a late job is still right
    // remediation (M14) decides from the alerts the same pass just stored, at the same "now"
    'evaluate-alerts': async () => {
      const now = new Date();
      await this.alerts.evaluate(now);
      await this.remediation.pass(now);
    },
    'telemetry-retention': async () => void (await this.retention.run(new Date())),
    'purge-sessions': async () => void (await this.tokens.purgeEndedSessions(new Date())),
  };
}
