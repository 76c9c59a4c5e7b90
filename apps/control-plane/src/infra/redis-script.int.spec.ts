import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { TEST_REDIS_URL } from '../test-support/harness.js';
import { RedisScript } from './redis-script.js';

const redis = new Redis(TEST_REDIS_URL);
afterAll(() => redis.disconnect());

describe('RedisScript', () => {
  it('runs a script Redis has never seen (NOSCRIPT: sent whole once), and by its SHA-1 from then on', async () => {
    // a comment no other run has: Redis cannot know this script yet
    const script = new RedisScript(`-- ${randomBytes(8).toString('hex')}\nreturn {KEYS[1], ARGV[1] + 1}`);
    expect(await redis.script('EXISTS', script.sha)).toEqual([0]);
    expect(await script.run(redis, ['k'], [41])).toEqual(['k', 42]);
    expect(await redis.script('EXISTS', script.sha)).toEqual([1]);
    expect(await redis.evalsha(script.sha, 1, 'again', 1)).toEqual(['again', 2]);
    expect(await script.run(redis, ['k2'], ['1'])).toEqual(['k2', 2]);
  });

  it('a script error is thrown as it is, not taken for a missing script', async () => {
    const script = new RedisScript(`-- ${randomBytes(8).toString('hex')}\nreturn redis.call('NO_SUCH_COMMAND')`);
    await expect(script.run(redis, [], [])).rejects.toThrow(/Unknown Redis command|unknown command/i);
  });
});
