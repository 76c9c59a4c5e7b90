import { Module } from '@nestjs/common';
import { AssignmentsModule } from '../assignments/assignments.module.js';
import { MqttModule } from '../mqtt/mqtt.module.js';
import { RolloutsModule } from '../rollouts/rollouts.module.js';
import { MaintenanceProcessor } from './maintenance.processor.js';

@Module({
  imports: [AssignmentsModule, MqttModule, RolloutsModule],
  providers: [MaintenanceProcessor],
  exports: [MaintenanceProcessor],
})
export class MaintenanceModule {}
