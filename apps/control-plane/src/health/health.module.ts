import { Module } from '@nestjs/common';
import { TelemetryModule } from '../telemetry/telemetry.module.js';
import { HealthController } from './health.controller.js';
import { HealthRepository } from './health.repository.js';

/** /readyz, /metrics and the OpenAPI document: api side only. */
@Module({ imports: [TelemetryModule], controllers: [HealthController], providers: [HealthRepository] })
export class HealthModule {}
