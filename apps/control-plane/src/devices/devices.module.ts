import { Module } from '@nestjs/common';
import { AssignmentsModule } from '../assignments/assignments.module.js';
import { AssignmentsService } from '../assignments/assignments.service.js';
import { DEVICE_ENABLED_LISTENER } from '../infra/tokens.js';
import { AuthModule } from '../auth/auth.module.js';
import { RolloutsModule } from '../rollouts/rollouts.module.js';
import { TelemetryModule } from '../telemetry/telemetry.module.js';
import { DeviceAuthService } from './device-auth.service.js';
import { DeviceDataModule } from './device-data.module.js';
import { DeviceRevocationService, type DeviceEnabledListener } from './device-revocation.service.js';
import { DeviceSecretService } from './device-secret.service.js';
import { DevicesController } from './devices.controller.js';
import { DevicesService } from './devices.service.js';

/** Devices and their enrollment (an enrolled device joins a rollout that targets it); how a device proves who it is. */
@Module({
  imports: [AssignmentsModule, AuthModule, DeviceDataModule, RolloutsModule, TelemetryModule],
  controllers: [DevicesController],
  providers: [
    DeviceAuthService,
    DevicesService,
    DeviceRevocationService,
    DeviceSecretService,
    // a device enabled again gets its desired state republished (devices' services do not import assignments)
    {
      provide: DEVICE_ENABLED_LISTENER,
      useFactory: (a: AssignmentsService): DeviceEnabledListener => ({ deviceEnabled: (id) => a.republish(id) }),
      inject: [AssignmentsService],
    },
  ],
  exports: [DevicesService, DeviceRevocationService, DeviceSecretService, DeviceAuthService, DeviceDataModule],
})
export class DevicesModule {}
