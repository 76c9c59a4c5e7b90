import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module.js';
import { TelemetryModule } from './telemetry.module.js';
import { TelemetryRollupsController } from './telemetry-rollups.controller.js';

/** The operator's routes over the rollup fold (the api's HTTP edge; the fold itself is TelemetryModule's). */
@Module({
  imports: [AuthModule, TelemetryModule],
  controllers: [TelemetryRollupsController],
})
export class TelemetryRollupsModule {}
