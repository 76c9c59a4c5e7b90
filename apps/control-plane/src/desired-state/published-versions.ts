import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import type { Config } from '../config.js';
import { settlesWithin } from '../infra/settles-within.js';
import type { Logger } from '../infra/logger.js';
import { RedisScript } from '../infra/redis-script.js';
import { CONFIG, LOGGER, REDIS } from '../infra/tokens.js';

/** A device's desired state about to be published (or just published) under this assignment number. */
export interface PublishedVersion {
  deviceId: string;
  version: number;
}

/**
 * How long a device's mark outlives its last publish: far longer than any read-to-publish (a
 * 10,000-device fan-out takes seconds), short enough that marks of deleted devices, or marks above
 * a database restored from a backup, go away by themselves.
 */
export const PUBLISHED_MARK_TTL_MS = 15 * 60_000;

/** Longest wait for Redis before a publish goes on unguarded (Redis away: the devices still hear of their state). */
const REDIS_TIMEOUT_MS = 2_000;

/**
 * For each key in turn: refused (0) when it holds a higher number than the one given, otherwise set
 * to it (1), with the TTL. An equal number passes: a re-signed or re-sent state of the same
 * assignment (key rotation, grant refresh, reconnect) is not older.
 */
const CLAIM = new RedisScript(`
local out = {}
for i, key in ipairs(KEYS) do
  local v = tonumber(ARGV[i + 1])
  local cur = tonumber(redis.call('GET', key))
  if cur and cur > v then
    out[i] = 0
  else
    redis.call('SET', key, ARGV[i + 1], 'PX', ARGV[1])
    out[i] = 1
  end
end
return out`);

/**
 * The highest assignment number published per device, in Redis so it holds across replicas: the
 * retained desired state never goes back a version (issue 15). A publisher claims each state's
 * number atomically right before publishing it, and a state older than one already claimed is not
 * published. What is left: a state claimed just before a newer one but reaching the broker after
 * it; the publisher sees this afterwards (`overtaken`) and publishes the device's latest state again.
 */
@Injectable()
export class PublishedVersions {
  private readonly prefix: string;
  private readonly log: Logger;
  private lastWarning = 0;

  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(CONFIG) config: Config,
    @Inject(LOGGER) logger: Logger,
  ) {
    this.prefix = `${config.QUEUE_PREFIX}:desired-published`;
    this.log = logger.child('published-versions');
  }

  private key(deviceId: string): string {
    return `${this.prefix}:${deviceId}`;
  }

  /**
   * Claims each number for its device in one atomic step: true where it may be published (no higher
   * number claimed), false where a newer state was published or is being published. Redis away: all
   * true (the stored state stays the truth; devices keep hearing of their states during the outage).
   */
  async claim(states: readonly PublishedVersion[]): Promise<boolean[]> {
    if (states.length === 0) return [];
    const answer = await this.withRedis(
      () =>
        CLAIM.run(
          this.redis,
          states.map((s) => this.key(s.deviceId)),
          [PUBLISHED_MARK_TTL_MS, ...states.map((s) => s.version)],
        ),
      'claim',
    );
    return Array.isArray(answer) ? states.map((_, i) => answer[i] !== 0) : states.map(() => true);
  }

  /** The devices among these whose mark is now above the number published: a newer state was claimed meanwhile. */
  async overtaken(states: readonly PublishedVersion[]): Promise<string[]> {
    if (states.length === 0) return [];
    const marks = await this.withRedis(() => this.redis.mget(states.map((s) => this.key(s.deviceId))), 'check');
    if (!marks) return [];
    return states.filter((s, i) => Number(marks[i] ?? 0) > s.version).map((s) => s.deviceId);
  }

  /**
   * The devices among these whose mark is below the number given (or absent): their state was not
   * claimed for publishing. Redis away: all of them (publishing again is the safe side).
   */
  async unpublished(states: readonly PublishedVersion[]): Promise<string[]> {
    if (states.length === 0) return [];
    const marks = await this.withRedis(() => this.redis.mget(states.map((s) => this.key(s.deviceId))), 'check');
    if (!marks) return states.map((s) => s.deviceId);
    return states.filter((s, i) => Number(marks[i] ?? 0) < s.version).map((s) => s.deviceId);
  }

  /** The answer of a Redis call, or null (warned at most every 10 s) when Redis fails or does not answer in time. */
  private async withRedis<T>(fn: () => Promise<T>, what: string): Promise<T | null> {
    const call = fn();
    let failure: unknown = `no answer in ${REDIS_TIMEOUT_MS} ms`;
    if (await settlesWithin(call, REDIS_TIMEOUT_MS)) {
      try {
        return await call;
      } catch (e) {
        failure = e;
      }
    } else call.catch(() => undefined);
    if (Date.now() - this.lastWarning > 10_000) {
      this.lastWarning = Date.now();
      this.log.warn(`published-version ${what} skipped: Redis did not answer; desired states are published unguarded`, {
        error: failure instanceof Error ? failure.message : String(failure),
      });
    }
    return null;
  }
}
