import { z } from 'zod';
import type { Config } from '../config.js';
import { defineQueue, type JobQueues } from '../infra/jobs.js';

/**
 * The rollup fold's own queue: a job every few seconds must not wait behind the maintenance
 * queue's long passes (alerts and remediation at 10,000 devices take seconds), nor hold them up.
 */
export const ROLLUP_FOLDS = defineQueue({
  name: 'telemetry-rollups',
  jobs: { 'fold-telemetry-rollups': z.strictObject({}) },
  // a missed fold is the next interval's: what it would have folded is still pending
  defaults: { attempts: 1, removeOnComplete: { count: 100 }, removeOnFail: { count: 100 } },
});

/** Upserts the fold's scheduler: one job every TELEMETRY_ROLLUP_FOLD_MS for all worker replicas together. */
export async function scheduleRollupFold(jobs: JobQueues, config: Config): Promise<void> {
  await jobs.schedule(ROLLUP_FOLDS, 'fold-telemetry-rollups', config.TELEMETRY_ROLLUP_FOLD_MS, {});
}
