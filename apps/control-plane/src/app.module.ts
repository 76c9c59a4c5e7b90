import { Module, type DynamicModule, type Type } from '@nestjs/common';
import { AlertsModule } from './alerts/alerts.module.js';
import { AlertWebhookProcessor } from './alerts/alert-webhook.processor.js';
import { ALERT_WEBHOOKS } from './alerts/alert-webhook.queue.js';
import { AssignmentsModule } from './assignments/assignments.module.js';
import { AuditModule } from './audit/audit.module.js';
import { DesiredStateProcessor } from './assignments/desired-state.processor.js';
import { DESIRED_STATE } from './desired-state/desired-state.queue.js';
import { AuthModule } from './auth/auth.module.js';
import { EnergyModule } from './energy/energy.module.js';
import { RemediationModule } from './remediation/remediation.module.js';
import { DevicesModule } from './devices/devices.module.js';
import { FleetModule } from './fleet/fleet.module.js';
import { HealthModule } from './health/health.module.js';
import { InfraModule, type Infra } from './infra/infra.module.js';
import type { JobProcessor, QueueDefinition } from './infra/jobs.js';
import { ModelsModule } from './models/models.module.js';
import { VariantBuildProcessor } from './models/variant-build.processor.js';
import { VARIANT_BUILDS } from './models/variant-build.queue.js';
import { MqttModule } from './mqtt/mqtt.module.js';
import { PoliciesModule } from './policies/policies.module.js';
import { PolicyDocumentModule } from './policy-document/policy-document.module.js';
import { RolloutProcessor } from './rollouts/rollout.processor.js';
import { ROLLOUT_STEPS } from './rollouts/rollout.queue.js';
import { RolloutsModule } from './rollouts/rollouts.module.js';
import { SigningKeysModule } from './signing-keys/signing-keys.module.js';
import { TelemetryModule } from './telemetry/telemetry.module.js';
import { TelemetryRollupProcessor } from './telemetry/telemetry-rollup.processor.js';
import { TelemetryRollupsModule } from './telemetry/telemetry-rollups.module.js';
import { ROLLUP_FOLDS } from './telemetry/telemetry-rollup.queue.js';
import { MaintenanceModule } from './worker/maintenance.module.js';
import { MaintenanceProcessor } from './worker/maintenance.processor.js';
import { MAINTENANCE } from './worker/maintenance.queue.js';

export type { Infra } from './infra/infra.module.js';

/** One Nest module per domain; both entry points load all of them (one codebase). */
const DOMAIN_MODULES = [
  AuthModule,
  TelemetryModule,
  PoliciesModule,
  AssignmentsModule,
  RolloutsModule,
  DevicesModule,
  ModelsModule,
  MqttModule,
  FleetModule,
  AlertsModule,
  EnergyModule,
  RemediationModule,
  PolicyDocumentModule,
];

export type Role = 'api' | 'worker';

/**
 * Which process runs which queue's jobs. The desired-state queue is the api's: publishing needs the
 * broker, which the api holds (embedded in it, or its own connection to an external one), so the
 * worker reaches devices only by enqueueing there. Everything else runs in the worker.
 */
export const ROLE_QUEUES: Record<Role, readonly QueueDefinition[]> = {
  api: [DESIRED_STATE],
  worker: [ROLLOUT_STEPS, VARIANT_BUILDS, MAINTENANCE, ALERT_WEBHOOKS, ROLLUP_FOLDS],
};

export const ROLE_PROCESSORS: Record<Role, readonly Type<JobProcessor>[]> = {
  api: [DesiredStateProcessor],
  worker: [RolloutProcessor, VariantBuildProcessor, MaintenanceProcessor, AlertWebhookProcessor, TelemetryRollupProcessor],
};

/** The modules only one side needs: the HTTP edge, or the maintenance schedules. */
const ROLE_MODULES: Record<Role, readonly Type[]> = {
  api: [HealthModule, AuditModule, SigningKeysModule, TelemetryRollupsModule],
  worker: [MaintenanceModule],
};

/**
 * The control plane's composition root, immich-style: one module graph for every process, the
 * role(s) choosing the edge modules. Infrastructure (connections, the broker bus, the job queues)
 * is created by the entry point and handed in, so nothing connects at import time and tests can
 * build it on their own database.
 */
@Module({})
export class AppModule {
  static forRoles(infra: Infra, roles: readonly Role[]): DynamicModule {
    return {
      module: AppModule,
      imports: [InfraModule.forRoot(infra), ...DOMAIN_MODULES, ...roles.flatMap((r) => ROLE_MODULES[r])],
    };
  }
}
