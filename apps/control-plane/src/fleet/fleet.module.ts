import { Module } from '@nestjs/common';
import { DesiredStateModule } from '../desired-state/desired-state.module.js';
import { AssignmentsModule } from '../assignments/assignments.module.js';
import { DevicesModule } from '../devices/devices.module.js';
import { PoliciesModule } from '../policies/policies.module.js';
import { TelemetryModule } from '../telemetry/telemetry.module.js';
import { FleetService } from './fleet.service.js';

/** The fleet overview the dashboard reads. */
@Module({
  imports: [AssignmentsModule, DesiredStateModule, DevicesModule, PoliciesModule, TelemetryModule],
  providers: [FleetService],
  exports: [FleetService],
})
export class FleetModule {}
