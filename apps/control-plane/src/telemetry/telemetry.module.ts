import { Module } from '@nestjs/common';
import { DeadLetterRepository } from './dead-letter.repository.js';
import { TelemetryIngestService } from './telemetry-ingest.service.js';
import { TelemetryRepository } from './telemetry.repository.js';

/**
 * Telemetry windows (ingest, queries) and the dead letters every device-message handler keeps.
 * The ingest buffers and commits only where it is started (the api side).
 */
@Module({
  providers: [TelemetryRepository, DeadLetterRepository, TelemetryIngestService],
  exports: [TelemetryRepository, DeadLetterRepository, TelemetryIngestService],
})
export class TelemetryModule {}
