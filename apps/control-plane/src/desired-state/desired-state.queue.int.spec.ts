import { randomBytes, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import type { Config } from '../config.js';
import { JobQueues, JobWorkers } from '../infra/jobs.js';
import { Logger } from '../infra/logger.js';
import { TEST_REDIS_URL, waitFor } from '../test-support/harness.js';
import { RedisServer } from '../test-support/redis-server.js';
import { DesiredStateProcessor } from '../assignments/desired-state.processor.js';
import { DESIRED_STATE, DesiredStateQueue, PUBLISH_BATCH } from './desired-state.queue.js';
import { PublishedVersions } from './published-versions.js';

const log = new Logger('test', 'error');

/** The producer and the processor of the queue, the processor publishing through `publish`. */
async function desiredQueue(publish: {
  publishLatest: (deviceId: string) => Promise<void>;
  publishLatestMany: (deviceIds: string[]) => Promise<void>;
  /** What a fallback job asks: the devices not published meanwhile (default: all). */
  unpublished?: PublishedVersions['unpublished'];
}): Promise<DesiredStateQueue & { stop: () => Promise<void> }> {
  const o = { redisUrl: TEST_REDIS_URL, prefix: `ef-test-${randomBytes(4).toString('hex')}` };
  const jobs = new JobQueues(o);
  const workers = new JobWorkers({ ...o, log });
  await jobs.start();
  const processor = new DesiredStateProcessor(
    { republish: publish.publishLatest, republishMany: publish.publishLatestMany },
    { unpublished: publish.unpublished ?? ((states) => Promise.resolve(states.map((s) => s.deviceId))) },
  );
  await workers.start([processor], [DESIRED_STATE]);
  return Object.assign(new DesiredStateQueue(jobs), {
    stop: async () => {
      await workers.stop();
      await jobs.stop();
    },
  });
}

describe('desired-state queue (BullMQ on real Redis)', () => {
  it('publishes a doubled enqueue once, batches the devices due now, and retries a failed publish', async () => {
    const published: string[] = [];
    const batches: number[] = [];
    let failOnce = true;
    const q = await desiredQueue({
      publishLatest: (id) => {
        published.push(id);
        return Promise.resolve();
      },
      publishLatestMany: (ids) => {
        if (failOnce) {
          failOnce = false;
          return Promise.reject(new Error('broker away'));
        }
        batches.push(ids.length);
        published.push(...ids);
        return Promise.resolve();
      },
    });
    const many = Array.from({ length: PUBLISH_BATCH + 3 }, () => randomUUID());
    const one = randomUUID();
    const jobs = many.map((deviceId) => ({ deviceId, assignmentVersion: 1 }));
    await q.enqueue(jobs);
    await q.enqueue(jobs);
    await q.enqueue([{ deviceId: one, assignmentVersion: 1 }]);
    await q.enqueue([{ deviceId: one, assignmentVersion: 1 }]);
    await waitFor(() => Promise.resolve(published.length >= many.length + 1), 15_000, 'publishes');
    await new Promise((r) => setTimeout(r, 1_500));
    expect(published.sort()).toEqual([...many, one].sort());
    expect(batches.sort((x, y) => x - y)).toEqual([3, PUBLISH_BATCH]);
    await q.stop();
  });

  it("keeps a delayed notification (a rollout's rate limit) a job of its own, run no earlier than asked", async () => {
    const at = new Map<string, number>();
    const q = await desiredQueue({
      publishLatest: (id) => {
        at.set(id, Date.now());
        return Promise.resolve();
      },
      publishLatestMany: (ids) => Promise.reject(new Error(`unexpected batch of ${ids.length}`)),
    });
    const [a, b] = [randomUUID(), randomUUID()];
    const t0 = Date.now();
    await q.enqueue([
      { deviceId: a, assignmentVersion: 2, delayMs: 600 },
      { deviceId: b, assignmentVersion: 2, delayMs: 1_200 },
    ]);
    await waitFor(() => Promise.resolve(at.size === 2), 15_000, 'delayed publishes');
    expect((at.get(a) ?? 0) - t0).toBeGreaterThanOrEqual(600);
    expect((at.get(b) ?? 0) - t0).toBeGreaterThanOrEqual(1_200);
    await q.stop();
  });

  it('runs a fallback no earlier than asked and publishes only the devices whose number was not claimed for publishing meanwhile', async () => {
    const redis = new Redis(TEST_REDIS_URL);
    const marks = new PublishedVersions(redis, { QUEUE_PREFIX: `ef-test-${randomBytes(4).toString('hex')}` } as Config, log);
    const published: string[][] = [];
    const q = await desiredQueue({
      publishLatest: (id) => Promise.reject(new Error(`unexpected single publish of ${id}`)),
      publishLatestMany: (ids) => {
        published.push([...ids].sort());
        return Promise.resolve();
      },
      unpublished: (states) => marks.unpublished(states),
    });
    try {
      const [done, older, never] = [randomUUID(), randomUUID(), randomUUID()];
      // published (claimed) at the fallback's number, claimed at an older one, never claimed
      await marks.claim([
        { deviceId: done, version: 2 },
        { deviceId: older, version: 1 },
      ]);
      const t0 = Date.now();
      await q.enqueueFallback(
        [done, older, never].map((deviceId) => ({ deviceId, assignmentVersion: 2 })),
        800,
      );
      // all published meanwhile: the fallback reads Redis and publishes nothing
      await q.enqueueFallback([{ deviceId: done, assignmentVersion: 2 }], 800);
      await waitFor(() => Promise.resolve(published.length > 0), 15_000, 'the fallback publish');
      expect(Date.now() - t0).toBeGreaterThanOrEqual(800);
      await new Promise((r) => setTimeout(r, 1_500));
      expect(published).toEqual([[older, never].sort()]);
    } finally {
      await q.stop();
      redis.disconnect();
    }
  });

  it('refuses to start on a Redis that evicts keys', async () => {
    const server = await RedisServer.create({ policy: 'allkeys-lru' });
    await server.start();
    const url = server.url;
    const jobs = new JobQueues({ redisUrl: url, prefix: 'ef-evict' });
    await expect(jobs.start()).rejects.toThrow(/maxmemory-policy is "allkeys-lru".*noeviction/);
    await jobs.stop();
    const workers = new JobWorkers({ redisUrl: url, prefix: 'ef-evict', log });
    const processor = new DesiredStateProcessor(
      { republish: () => Promise.resolve(), republishMany: () => Promise.resolve() },
      { unpublished: () => Promise.resolve([]) },
    );
    await expect(workers.start([processor], [DESIRED_STATE])).rejects.toThrow(/noeviction/);
    await workers.stop();
    await server.close();
  });
});
