import { Module } from '@nestjs/common';
import { AssignmentsModule } from '../assignments/assignments.module.js';
import { AuthModule } from '../auth/auth.module.js';
import { DesiredStateModule } from '../desired-state/desired-state.module.js';
import { ENROLLMENT_LISTENER } from '../infra/tokens.js';
import { PoliciesModule } from '../policies/policies.module.js';
import { TelemetryModule } from '../telemetry/telemetry.module.js';
import { RolloutDeviceRepository } from './rollout-device.repository.js';
import { RolloutReportsService } from './rollout-reports.service.js';
import { RolloutRollbackService } from './rollout-rollback.service.js';
import { RolloutStepsService } from './rollout-steps.service.js';
import { RolloutSweepService } from './rollout-sweep.service.js';
import { RolloutTargetingService } from './rollout-targeting.service.js';
import { RolloutTransitionsService } from './rollout-transitions.service.js';
import { RolloutViewsService } from './rollout-views.service.js';
import { RolloutProcessor } from './rollout.processor.js';
import { RolloutQueue } from './rollout.queue.js';
import { RolloutRepository } from './rollout.repository.js';
import { RolloutsController } from './rollouts.controller.js';
import { RolloutsService } from './rollouts.service.js';

/** Staged rollouts: operator actions, the step engine (through its queue), rollback, device reports, the sweep, the views. */
@Module({
  imports: [AuthModule, AssignmentsModule, DesiredStateModule, PoliciesModule, TelemetryModule],
  controllers: [RolloutsController],
  providers: [
    RolloutRepository,
    RolloutDeviceRepository,
    RolloutTransitionsService,
    RolloutTargetingService,
    RolloutRollbackService,
    RolloutStepsService,
    RolloutReportsService,
    RolloutSweepService,
    RolloutViewsService,
    RolloutsService,
    RolloutQueue,
    RolloutProcessor,
    // a device enrolled into an active rollout's target joins it (devices do not import rollouts' services)
    { provide: ENROLLMENT_LISTENER, useExisting: RolloutReportsService },
  ],
  exports: [RolloutsService, RolloutProcessor, RolloutRepository, ENROLLMENT_LISTENER],
})
export class RolloutsModule {}
