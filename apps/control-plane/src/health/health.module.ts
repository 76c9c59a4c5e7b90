import { Module } from '@nestjs/common';
import { TelemetryModule } from '../telemetry/telemetry.module.js';
import { HealthController } from './health.controller.js';

/** /readyz, /metrics and the OpenAPI document: api side only. */
@Module({ imports: [TelemetryModule], controllers: [HealthController] })
export class HealthModule {}
