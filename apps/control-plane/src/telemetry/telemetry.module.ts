import { Module } from '@nestjs/common';
import { DeviceDataModule } from '../devices/device-data.module.js';
import { TelemetryQueries } from './telemetry.queries.js';
import { TelemetryIngestService } from './telemetry-ingest.service.js';
import { TelemetryRepository } from './telemetry.repository.js';
import { TelemetryPartitionRepository } from './telemetry-partition.repository.js';
import { TelemetryRetentionService } from './telemetry-retention.service.js';
import { TelemetryRollupRepository } from './telemetry-rollup.repository.js';
import { TelemetryRollupFoldService } from './telemetry-rollup-fold.service.js';
import { TelemetryRollupProcessor } from './telemetry-rollup.processor.js';

/**
 * Telemetry windows (ingest, queries). The ingest buffers and commits only where it is started (the
 * api side). Dead letters, which every device-message handler keeps, are infrastructure.
 */
@Module({
  imports: [DeviceDataModule],
  providers: [
    TelemetryQueries,
    TelemetryRepository,
    TelemetryRollupRepository,
    TelemetryPartitionRepository,
    TelemetryRetentionService,
    TelemetryIngestService,
    TelemetryRollupFoldService,
    TelemetryRollupProcessor,
  ],
  exports: [
    TelemetryQueries,
    TelemetryRepository,
    TelemetryRollupRepository,
    TelemetryRetentionService,
    TelemetryIngestService,
    TelemetryRollupFoldService,
    TelemetryRollupProcessor,
  ],
})
export class TelemetryModule {}
