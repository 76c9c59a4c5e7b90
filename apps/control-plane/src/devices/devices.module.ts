import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module.js';
import { RolloutsModule } from '../rollouts/rollouts.module.js';
import { TelemetryModule } from '../telemetry/telemetry.module.js';
import { DeviceAuthService } from './device-auth.service.js';
import { DeviceDataModule } from './device-data.module.js';
import { DevicesController } from './devices.controller.js';
import { DevicesService } from './devices.service.js';

/** Devices and their enrollment (an enrolled device joins a rollout that targets it); how a device proves who it is. */
@Module({
  imports: [AuthModule, DeviceDataModule, RolloutsModule, TelemetryModule],
  controllers: [DevicesController],
  providers: [DeviceAuthService, DevicesService],
  exports: [DevicesService, DeviceAuthService, DeviceDataModule],
})
export class DevicesModule {}
