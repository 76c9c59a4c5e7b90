import { Module } from '@nestjs/common';
import { AlertsModule } from '../alerts/alerts.module.js';
import { AuthModule } from '../auth/auth.module.js';
import { DesiredStateModule } from '../desired-state/desired-state.module.js';
import { MqttModule } from '../mqtt/mqtt.module.js';
import { RemediationModule } from '../remediation/remediation.module.js';
import { RolloutsModule } from '../rollouts/rollouts.module.js';
import { TelemetryModule } from '../telemetry/telemetry.module.js';
import { MaintenanceProcessor } from './maintenance.processor.js';

@Module({
  imports: [AlertsModule, AuthModule, DesiredStateModule, MqttModule, RemediationModule, RolloutsModule, TelemetryModule],
  providers: [MaintenanceProcessor],
  exports: [MaintenanceProcessor],
})
export class MaintenanceModule {}
