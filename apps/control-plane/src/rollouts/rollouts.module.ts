import { Module } from '@nestjs/common';
import { AssignmentsModule } from '../assignments/assignments.module.js';
import { AuthModule } from '../auth/auth.module.js';
import { PoliciesModule } from '../policies/policies.module.js';
import { TelemetryModule } from '../telemetry/telemetry.module.js';
import { RolloutProcessor } from './rollout.processor.js';
import { RolloutQueue } from './rollout.queue.js';
import { RolloutRepository } from './rollout.repository.js';
import { RolloutsController } from './rollouts.controller.js';
import { RolloutsService } from './rollouts.service.js';

@Module({
  imports: [AuthModule, AssignmentsModule, PoliciesModule, TelemetryModule],
  controllers: [RolloutsController],
  providers: [RolloutRepository, RolloutsService, RolloutQueue, RolloutProcessor],
  exports: [RolloutsService, RolloutProcessor],
})
export class RolloutsModule {}
