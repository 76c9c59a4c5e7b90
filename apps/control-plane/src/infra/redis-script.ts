import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

/**
 * A Lua script Redis runs by its SHA-1 (`EVALSHA`): a request sends 40 characters instead of the
 * script, and Redis does not hash it again. A Redis that does not know it (new, restarted, or after
 * `SCRIPT FLUSH`) answers NOSCRIPT, and the script is sent whole once (`EVAL`, which loads it).
 */
export class RedisScript {
  readonly sha: string;

  constructor(private readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  async run(redis: Redis, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (e) {
      if (!(e instanceof Error) || !e.message.startsWith('NOSCRIPT')) throw e;
      return redis.eval(this.source, keys.length, ...keys, ...args);
    }
  }
}
