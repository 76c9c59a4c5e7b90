import { z } from 'zod';
import type { Config } from '../config.js';
import { defineQueue, type JobQueues } from '../infra/jobs.js';
import { scheduleRollupFold } from '../telemetry/telemetry-rollup.queue.js';

const Nothing = z.strictObject({});

/**
 * Fleet-wide periodic work, run by BullMQ job schedulers: one job per interval for all worker
 * replicas together (no timer per process, no lock deciding which replica does it).
 */
export const MAINTENANCE = defineQueue({
  name: 'maintenance',
  jobs: {
    'sweep-rollouts': Nothing,
    'refresh-manifests': Nothing,
    'sweep-presence': Nothing,
    'evaluate-alerts': Nothing,
    'refresh-hybrid-grants': Nothing,
    'telemetry-retention': Nothing,
    'purge-sessions': Nothing,
  },
  // a missed run is the next interval's: no retries piling up behind the schedule
  defaults: { attempts: 1, removeOnComplete: { count: 100 }, removeOnFail: { count: 100 } },
});

/** Telemetry partitions are made a week ahead: an hourly pass is plenty, and soon after a worker starts. */
export const TELEMETRY_RETENTION_INTERVAL_MS = 3_600_000;

/** Ended dashboard sessions are only dead rows: an hourly delete keeps the table at the live ones. */
export const SESSION_PURGE_INTERVAL_MS = 3_600_000;

/** Upserts the schedulers, the rollup fold's included (idempotent: every worker replica does it at start, and the last settings win). */
export async function scheduleMaintenance(jobs: JobQueues, config: Config): Promise<void> {
  await jobs.schedule(MAINTENANCE, 'sweep-rollouts', config.ROLLOUT_SWEEP_MS, {});
  await jobs.schedule(MAINTENANCE, 'refresh-manifests', config.MANIFEST_REFRESH_INTERVAL_MS, {});
  // hybrid devices' forwarding grants: re-issued every third of their life (HYBRID_GRANT_TTL_SECONDS)
  await jobs.schedule(MAINTENANCE, 'refresh-hybrid-grants', Math.round((config.HYBRID_GRANT_TTL_SECONDS * 1_000) / 3), {});
  if (config.ALERT_EVAL_INTERVAL_MS > 0) await jobs.schedule(MAINTENANCE, 'evaluate-alerts', config.ALERT_EVAL_INTERVAL_MS, {});
  else await jobs.unschedule(MAINTENANCE, 'evaluate-alerts');
  await jobs.schedule(MAINTENANCE, 'telemetry-retention', TELEMETRY_RETENTION_INTERVAL_MS, {});
  await jobs.schedule(MAINTENANCE, 'purge-sessions', SESSION_PURGE_INTERVAL_MS, {});
  // on its own queue (telemetry-rollup.queue.ts), so a fold every few seconds waits for no maintenance pass
  await scheduleRollupFold(jobs, config);
  // only an external broker needs it: the embedded one sees every connection end
  if (config.embeddedBroker) await jobs.unschedule(MAINTENANCE, 'sweep-presence');
  else await jobs.schedule(MAINTENANCE, 'sweep-presence', Math.max(500, (config.PRESENCE_STALE_SECONDS * 1_000) / 4), {});
}
