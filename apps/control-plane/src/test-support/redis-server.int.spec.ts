import { occupyPort } from '@edge-fleet/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import { redisAnswers } from '../infra/services.js';
import { RedisServer } from './redis-server.js';

const closing: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of closing.splice(0).reverse()) await c().catch(() => undefined);
});

describe('test Redis: a port taken between freePort() and the server binding it', () => {
  it('a first start moves to a free port and answers there', async () => {
    const redis = await RedisServer.create();
    closing.push(() => redis.close());
    const taken = redis.port;
    const squatter = await occupyPort(taken);
    closing.push(() => squatter.close());
    await redis.start();
    expect(redis.port).not.toBe(taken);
    expect(await redisAnswers(redis.url)).toBe(true);
  }, 30_000);

  it('a restart keeps its port: taken meanwhile, the start fails and says why', async () => {
    const redis = await RedisServer.create();
    closing.push(() => redis.close());
    await redis.start();
    const port = redis.port;
    await redis.kill();
    const squatter = await occupyPort(port);
    closing.push(() => squatter.close());
    await expect(redis.start()).rejects.toThrow(/Address already in use/);
    expect(redis.port).toBe(port);
  }, 30_000);
});
