import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { Logger } from '../infra/logger.js';
import { redisAnswers } from '../infra/services.js';
import { freePort, TEST_REDIS_URL, waitFor } from '../test-support/harness.js';
import { DesiredStateQueue } from './desired-state.queue.js';

const log = new Logger('test', 'error');
const servers: ChildProcess[] = [];
afterAll(() => {
  for (const s of servers) s.kill('SIGKILL');
});

describe('desired-state queue (BullMQ on real Redis)', () => {
  it('publishes once per (device, version) however often the job is enqueued, and retries a failed publish', async () => {
    const published: string[] = [];
    let failOnce = true;
    const q = new DesiredStateQueue({
      redisUrl: TEST_REDIS_URL,
      prefix: `ef-test-${randomBytes(4).toString('hex')}`,
      log,
      publishLatest: (id) => {
        if (failOnce) {
          failOnce = false;
          return Promise.reject(new Error('broker away'));
        }
        published.push(id);
        return Promise.resolve();
      },
    });
    await q.start();
    const a = randomUUID();
    const b = randomUUID();
    await q.enqueue([{ deviceId: a, assignmentVersion: 1 }, { deviceId: b, assignmentVersion: 1 }]);
    await q.enqueue([{ deviceId: a, assignmentVersion: 1 }]);
    await waitFor(() => Promise.resolve(published.length >= 2), 15_000, 'publishes');
    await new Promise((r) => setTimeout(r, 1_500));
    expect(published.sort()).toEqual([a, b].sort());
    await q.stop();
  });

  it('refuses to start on a Redis that evicts keys', async () => {
    const port = await freePort();
    const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'allkeys-lru'], { stdio: 'ignore' });
    servers.push(server);
    const url = `redis://127.0.0.1:${port}`;
    await waitFor(() => redisAnswers(url), 10_000, 'redis up');
    const q = new DesiredStateQueue({ redisUrl: url, prefix: 'ef-evict', log, publishLatest: () => Promise.resolve() });
    await expect(q.start()).rejects.toThrow(/maxmemory-policy is "allkeys-lru".*noeviction/);
    await q.stop();
  });
});
