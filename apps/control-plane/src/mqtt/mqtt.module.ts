import { Module } from '@nestjs/common';
import { AssignmentsModule } from '../assignments/assignments.module.js';
import { DesiredStateModule } from '../desired-state/desired-state.module.js';
import { DevicesModule } from '../devices/devices.module.js';
import { RolloutsModule } from '../rollouts/rollouts.module.js';
import { TelemetryModule } from '../telemetry/telemetry.module.js';
import { DeviceMessagesHandler } from './device-messages.handler.js';
import { PresenceService } from './presence.service.js';
import { ReportedIngestService } from '../reported/reported-ingest.service.js';
import { ReportedStateRepository } from '../reported/reported-state.repository.js';

/**
 * What devices send over MQTT: one handler routes each message (telemetry, reported state, status)
 * to the service that owns it; presence. The broker itself and the bus are infrastructure.
 */
@Module({
  imports: [AssignmentsModule, DesiredStateModule, DevicesModule, RolloutsModule, TelemetryModule],
  providers: [DeviceMessagesHandler, PresenceService, ReportedIngestService, ReportedStateRepository],
  exports: [DeviceMessagesHandler, PresenceService],
})
export class MqttModule {}
