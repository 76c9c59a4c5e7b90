import { Module, type DynamicModule, type Provider } from '@nestjs/common';
import { MulterModule } from '@nestjs/platform-express';
import { AssignmentRepository } from './assignments/assignment.repository.js';
import { AssignmentsService } from './assignments/assignments.service.js';
import { ReportedIngestService } from './assignments/reported-ingest.service.js';
import { ApiTokenRepository } from './auth/api-token.repository.js';
import { OperatorAuthService } from './auth/operator-auth.service.js';
import { OperatorGuard } from './auth/operator.guard.js';
import type { Config } from './config.js';
import { DeviceAuthService } from './devices/device-auth.service.js';
import { DeviceRepository } from './devices/device.repository.js';
import { DevicesController } from './devices/devices.controller.js';
import { DevicesService } from './devices/devices.service.js';
import { FleetService } from './fleet/fleet.service.js';
import { HealthController } from './health/health.controller.js';
import { CONFIG, DESIRED_QUEUE, LOGGER, MQTT_BUS, PG_POOL, PRISMA, REDIS, ROLLOUT_QUEUE, SIGNING, VARIANT_QUEUE } from './infra/tokens.js';
import { ModelRepository } from './models/model.repository.js';
import { ModelsController } from './models/models.controller.js';
import { ModelsService } from './models/models.service.js';
import { VariantBuildService } from './models/variant-build.service.js';
import { PresenceService } from './mqtt/presence.service.js';
import { DeviceMessagesHandler } from './mqtt/device-messages.handler.js';
import { PoliciesController } from './policies/policies.controller.js';
import { PoliciesService } from './policies/policies.service.js';
import { PolicyRepository } from './policies/policy.repository.js';
import { RolloutRepository } from './rollouts/rollout.repository.js';
import { RolloutsController } from './rollouts/rollouts.controller.js';
import { RolloutsService } from './rollouts/rollouts.service.js';
import { DeadLetterRepository } from './telemetry/dead-letter.repository.js';
import { TelemetryIngestService } from './telemetry/telemetry-ingest.service.js';
import { TelemetryQueries } from './telemetry/telemetry.queries.js';
import { TelemetryRepository } from './telemetry/telemetry.repository.js';

export interface Infra {
  config: Config;
  prisma: unknown;
  pgPool: unknown;
  redis: unknown;
  bus: unknown;
  logger: unknown;
  desiredQueue: unknown;
  signing: unknown;
  variantQueue: unknown;
  rolloutQueue: unknown;
}

/**
 * The control plane's composition root. Infrastructure (connections, broker bus) is created by
 * the entry point and handed in, so nothing connects at import time and tests can build it on
 * their own database.
 */
@Module({})
export class AppModule {
  static forRoot(infra: Infra): DynamicModule {
    const values: Provider[] = [
      { provide: CONFIG, useValue: infra.config },
      { provide: PRISMA, useValue: infra.prisma },
      { provide: PG_POOL, useValue: infra.pgPool },
      { provide: REDIS, useValue: infra.redis },
      { provide: MQTT_BUS, useValue: infra.bus },
      { provide: LOGGER, useValue: infra.logger },
      { provide: DESIRED_QUEUE, useValue: infra.desiredQueue },
      { provide: SIGNING, useValue: infra.signing },
      { provide: VARIANT_QUEUE, useValue: infra.variantQueue },
      { provide: ROLLOUT_QUEUE, useValue: infra.rolloutQueue },
    ];
    return {
      module: AppModule,
      imports: [MulterModule.register({ limits: { fileSize: infra.config.MAX_UPLOAD_MB * 1024 * 1024, files: 2, fields: 10 } })],
      controllers: [HealthController, DevicesController, ModelsController, PoliciesController, RolloutsController],
      providers: [
        ...values,
        ApiTokenRepository,
        OperatorAuthService,
        OperatorGuard,
        DeviceRepository,
        DeviceAuthService,
        DevicesService,
        ModelRepository,
        ModelsService,
        VariantBuildService,
        AssignmentRepository,
        AssignmentsService,
        ReportedIngestService,
        PolicyRepository,
        PoliciesService,
        FleetService,
        TelemetryRepository,
        TelemetryQueries,
        DeadLetterRepository,
        TelemetryIngestService,
        RolloutRepository,
        RolloutsService,
        DeviceMessagesHandler,
        PresenceService,
      ],
    };
  }
}
