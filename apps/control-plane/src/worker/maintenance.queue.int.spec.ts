import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigSchema, deriveConfig } from '../config.js';
import { JobQueues, JobWorkers, type JobHandlers } from '../infra/jobs.js';
import { Logger } from '../infra/logger.js';
import { TEST_REDIS_URL } from '../test-support/harness.js';
import { ROLLUP_FOLDS } from '../telemetry/telemetry-rollup.queue.js';
import { MAINTENANCE, scheduleMaintenance } from './maintenance.queue.js';

const log = new Logger('test', 'error');
const stops: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const s of stops.reverse()) await s();
});

const config = (env: Record<string, string>) => deriveConfig(ConfigSchema.parse({ REDIS_URL: TEST_REDIS_URL, ...env }));

async function schedulerIds(prefix: string, queue = MAINTENANCE.name): Promise<string[]> {
  const connection = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
  const q = new Queue(queue, { connection, prefix });
  try {
    return (await q.getJobSchedulers()).map((s) => s.key).sort();
  } finally {
    await q.close();
    connection.disconnect();
  }
}

describe('maintenance job schedulers (BullMQ on real Redis)', () => {
  it('runs each scheduled job once per interval for two worker replicas together, not once per replica', async () => {
    const prefix = `ef-test-${randomBytes(4).toString('hex')}`;
    const runs = {
      'sweep-rollouts': 0,
      'refresh-manifests': 0,
      'sweep-presence': 0,
      'evaluate-alerts': 0,
      'refresh-hybrid-grants': 0,
      'telemetry-retention': 0,
      'purge-sessions': 0,
    };
    const handlers: JobHandlers<typeof MAINTENANCE> = {
      'sweep-rollouts': () => Promise.resolve(void runs['sweep-rollouts']++),
      'refresh-manifests': () => Promise.resolve(void runs['refresh-manifests']++),
      'sweep-presence': () => Promise.resolve(void runs['sweep-presence']++),
      'evaluate-alerts': () => Promise.resolve(void runs['evaluate-alerts']++),
      'refresh-hybrid-grants': () => Promise.resolve(void runs['refresh-hybrid-grants']++),
      'telemetry-retention': () => Promise.resolve(void runs['telemetry-retention']++),
      'purge-sessions': () => Promise.resolve(void runs['purge-sessions']++),
    };
    const c = config({
      QUEUE_PREFIX: prefix,
      ROLLOUT_SWEEP_MS: '400',
      MANIFEST_REFRESH_INTERVAL_MS: '60000',
      ALERT_EVAL_INTERVAL_MS: '60000',
    });
    // two replicas, each with its producer side (which upserts the schedulers) and its processor
    for (let i = 0; i < 2; i++) {
      const jobs = new JobQueues({ redisUrl: TEST_REDIS_URL, prefix });
      const workers = new JobWorkers({ redisUrl: TEST_REDIS_URL, prefix, log });
      await jobs.start();
      await workers.start([{ queue: MAINTENANCE, concurrency: 1, handlers }], [MAINTENANCE]);
      await scheduleMaintenance(jobs, c);
      stops.push(async () => {
        await workers.stop();
        await jobs.stop();
      });
    }
    const t0 = Date.now();
    await new Promise((r) => setTimeout(r, 2_100));
    const elapsed = Date.now() - t0;
    // every 400 ms: about 5 or 6 runs in 2.1 s for the pair; one timer per replica would make 10 or more
    expect(runs['sweep-rollouts']).toBeGreaterThanOrEqual(3);
    expect(runs['sweep-rollouts']).toBeLessThanOrEqual(Math.ceil(elapsed / 400) + 1);
    // an interval of a minute: its first run comes at once, and only one
    expect(runs['refresh-manifests']).toBe(1);
    expect(runs['evaluate-alerts']).toBe(1);
    // a third of the 15-minute grant life: the first run at once, and only one
    expect(runs['refresh-hybrid-grants']).toBe(1);
    expect(runs['telemetry-retention']).toBe(1);
    // hourly: the first run at once, and only one
    expect(runs['purge-sessions']).toBe(1);
    // MQTT_URL unset (the embedded broker): there is no presence sweep to run
    expect(runs['sweep-presence']).toBe(0);
    expect(await schedulerIds(prefix)).toEqual([
      'evaluate-alerts',
      'purge-sessions',
      'refresh-hybrid-grants',
      'refresh-manifests',
      'sweep-rollouts',
      'telemetry-retention',
    ]);
  });

  it('schedules the presence sweep on an external broker, and removes it when the broker is embedded again', async () => {
    const prefix = `ef-test-${randomBytes(4).toString('hex')}`;
    const jobs = new JobQueues({ redisUrl: TEST_REDIS_URL, prefix });
    await jobs.start();
    stops.push(() => jobs.stop());
    await scheduleMaintenance(jobs, config({ QUEUE_PREFIX: prefix, MQTT_URL: 'mqtt://127.0.0.1:1883', MQTT_PROVISIONING: 'none' }));
    // the rollup fold, on its own queue so that no maintenance pass holds it up
    expect(await schedulerIds(prefix, ROLLUP_FOLDS.name)).toEqual(['fold-telemetry-rollups']);
    expect(await schedulerIds(prefix)).toEqual([
      'evaluate-alerts',
      'purge-sessions',
      'refresh-hybrid-grants',
      'refresh-manifests',
      'sweep-presence',
      'sweep-rollouts',
      'telemetry-retention',
    ]);
    await scheduleMaintenance(jobs, config({ QUEUE_PREFIX: prefix }));
    expect(await schedulerIds(prefix)).toEqual([
      'evaluate-alerts',
      'purge-sessions',
      'refresh-hybrid-grants',
      'refresh-manifests',
      'sweep-rollouts',
      'telemetry-retention',
    ]);
    // alert evaluation off (interval 0): its scheduler is removed
    await scheduleMaintenance(jobs, config({ QUEUE_PREFIX: prefix, ALERT_EVAL_INTERVAL_MS: '0' }));
    expect(await schedulerIds(prefix)).toEqual([
      'purge-sessions',
      'refresh-hybrid-grants',
      'refresh-manifests',
      'sweep-rollouts',
      'telemetry-retention',
    ]);
  });
});
