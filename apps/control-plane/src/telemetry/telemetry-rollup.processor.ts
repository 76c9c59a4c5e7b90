import { Inject, Injectable } from '@nestjs/common';
import type { JobHandlers, JobProcessor } from '../infra/jobs.js';
import { TelemetryRollupFoldService } from './telemetry-rollup-fold.service.js';
import { ROLLUP_FOLDS } from './telemetry-rollup.queue.js';

@Injectable()
export class TelemetryRollupProcessor implements JobProcessor<typeof ROLLUP_FOLDS> {
  readonly queue = ROLLUP_FOLDS;
  readonly concurrency = 1;

  constructor(@Inject(TelemetryRollupFoldService) private readonly folds: TelemetryRollupFoldService) {}

  readonly handlers: JobHandlers<typeof ROLLUP_FOLDS> = {
    'fold-telemetry-rollups': async () => void (await this.folds.fold()),
  };
}
