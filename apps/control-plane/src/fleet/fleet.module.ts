import { Module } from '@nestjs/common';
import { AssignmentsModule } from '../assignments/assignments.module.js';
import { DevicesModule } from '../devices/devices.module.js';
import { PoliciesModule } from '../policies/policies.module.js';
import { TelemetryModule } from '../telemetry/telemetry.module.js';
import { FleetService } from './fleet.service.js';

/** The fleet overview the dashboard reads. */
@Module({
  imports: [AssignmentsModule, DevicesModule, PoliciesModule, TelemetryModule],
  providers: [FleetService],
  exports: [FleetService],
})
export class FleetModule {}
