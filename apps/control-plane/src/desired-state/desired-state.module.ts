import { Module } from '@nestjs/common';
import { DeviceDataModule } from '../devices/device-data.module.js';
import { HybridModule } from '../hybrid/hybrid.module.js';
import { PoliciesModule } from '../policies/policies.module.js';
import { DesiredStateBuilder } from './desired-state.builder.js';
import { DesiredStatePublisher } from './desired-state.publisher.js';
import { DesiredStateQueue } from './desired-state.queue.js';
import { DesiredStateRepository } from './desired-state.repository.js';
import { DesiredStateService } from './desired-state.service.js';
import { PublishedVersions } from './published-versions.js';

/**
 * Desired states end to end: issuing (numbered, built, manifest signed, stored), queueing, publishing
 * signed, and refreshing manifests before they expire. Its queue's processor lives with assignments,
 * whose republish decides a device's state when it has none yet.
 */
@Module({
  imports: [DeviceDataModule, PoliciesModule, HybridModule],
  providers: [
    DesiredStateRepository,
    DesiredStateBuilder,
    DesiredStatePublisher,
    PublishedVersions,
    DesiredStateService,
    DesiredStateQueue,
  ],
  exports: [DesiredStateService, DesiredStateRepository, DesiredStateQueue, PublishedVersions],
})
export class DesiredStateModule {}
