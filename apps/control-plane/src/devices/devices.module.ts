import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module.js';
import { RolloutsModule } from '../rollouts/rollouts.module.js';
import { TelemetryModule } from '../telemetry/telemetry.module.js';
import { DeviceAuthService } from './device-auth.service.js';
import { DeviceRepository } from './device.repository.js';
import { DevicesController } from './devices.controller.js';
import { DevicesService } from './devices.service.js';

/** Devices and their enrollment; how a device proves who it is. */
@Module({
  imports: [AuthModule, RolloutsModule, TelemetryModule],
  controllers: [DevicesController],
  providers: [DeviceRepository, DeviceAuthService, DevicesService],
  exports: [DevicesService, DeviceAuthService, DeviceRepository],
})
export class DevicesModule {}
