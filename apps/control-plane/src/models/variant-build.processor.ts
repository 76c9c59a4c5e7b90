import { Inject, Injectable } from '@nestjs/common';
import type { JobHandlers, JobProcessor } from '../infra/jobs.js';
import { VARIANT_BUILDS } from './variant-build.queue.js';
import { VariantBuildService } from './variant-build.service.js';

/** Builds a model version's variants (worker side), one at a time: a build loads the CPU. */
@Injectable()
export class VariantBuildProcessor implements JobProcessor<typeof VARIANT_BUILDS> {
  readonly queue = VARIANT_BUILDS;
  readonly concurrency = 1;

  constructor(@Inject(VariantBuildService) private readonly builds: VariantBuildService) {}

  readonly handlers: JobHandlers<typeof VARIANT_BUILDS> = {
    'build-variants': (job) => this.builds.build(job.modelVersionId),
  };
}
