import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Redis } from 'ioredis';
import type { Config } from '../config.js';
import type { AuditRepository } from '../infra/audit.repository.js';
import type { Logger } from '../infra/logger.js';
import { RedisScript } from '../infra/redis-script.js';
import { sha256Hex } from '../infra/secrets.js';
import { lockoutAddress } from './client-address.js';

/**
 * The kinds of credential whose failures lock an address out (RELIABILITY row 25): operator tokens
 * (Bearer, the dashboard's login), enrollment tokens, and device secrets (Basic on artifact
 * downloads, and the password of an MQTT CONNECT to the embedded broker: one credential, one count).
 */
export type CredentialKind = 'operator' | 'enroll' | 'device';

/** What one request presented, and which bucket its requests are counted in. */
interface RequestClass {
  kind: CredentialKind | null;
  /** The device id a Basic credential names: its failures also lock that id (the credential's account). */
  deviceId: string | null;
  bucket: string;
  rate: number;
  burst: number;
}

/**
 * One script per request: a live lockout of any of KEYS[1..n] answers {1, its ms left}; else the
 * request takes a token from the GCRA bucket KEYS[n+1] (rate ARGV[2]/s, burst ARGV[3]), or {2, ms
 * until one is free}. Redis's clock, so every replica counts on the same time.
 */
const CHECK = new RedisScript(`
local n = tonumber(ARGV[1])
for i = 1, n do
  local ttl = redis.call('PTTL', KEYS[i])
  if ttl > 0 then return {1, ttl} end
end
local rate = tonumber(ARGV[2])
if rate <= 0 then return {0, 0} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = 1000 / rate
local key = KEYS[n + 1]
local tat = tonumber(redis.call('GET', key) or now)
if tat < now then tat = now end
local nextTat = tat + interval
local allowAt = nextTat - interval * tonumber(ARGV[3])
if allowAt > now then return {2, math.ceil(allowAt - now)} end
redis.call('SET', key, string.format('%.3f', nextTat), 'PX', math.ceil(nextTat - now))
return {0, 0}
`);

/** Counts one failure in KEYS[1] (window ARGV[2] ms); at ARGV[1] failures KEYS[2] locks for ARGV[3] ms: answers 1. */
const FAIL = new RedisScript(`
local c = redis.call('INCR', KEYS[1])
if c == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if c >= tonumber(ARGV[1]) then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
`);

/** A Redis answer slower than this lets the request through (and is logged): the API does not stall on Redis. */
const REDIS_TIMEOUT_MS = 500;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const ENROLL_PATH = /^\/api\/v1\/devices\/enroll\/?(\?|$)/;

type Middleware = (req: IncomingMessage & { ip?: string }, res: ServerResponse, next: () => void) => void;

/**
 * Request rate limits and lockouts, kept in Redis so that every api replica counts the same
 * requests: per operator token (or per address when a request carries none), per address on
 * enrollment, and a temporary lockout of an address (and of a device id) after repeated failed
 * credentials. Every failed credential and every lockout is audited.
 */
export class AbuseLimits {
  private readonly prefix: string;
  private lastRedisWarning = 0;

  constructor(
    private readonly redis: Redis,
    private readonly config: Config,
    private readonly audit: AuditRepository,
    private readonly log: Logger,
  ) {
    this.prefix = `${config.QUEUE_PREFIX}:abuse`;
  }

  /** Express middleware for `/api/v1` and `/trpc`: refuses with 429 + Retry-After, and watches each answer for a failed credential. */
  middleware(protocol: 'rest' | 'trpc'): Middleware {
    return (req, res, next) => {
      const address = req.ip ?? req.socket.remoteAddress ?? 'unknown';
      const cls = this.classify(req, lockoutAddress(address));
      void this.check(cls, address).then((refusal) => {
        if (refusal) return refuse(res, protocol, refusal.retryMs, refusal.message);
        if (cls.kind) {
          const kind = cls.kind;
          res.once('finish', () => {
            if (res.statusCode === 401) void this.failed(kind, address, cls.deviceId);
          });
        }
        next();
      });
    };
  }

  private classify(req: IncomingMessage, address: string): RequestClass {
    const header = req.headers.authorization ?? '';
    const c = this.config;
    // Express strips the mount path from req.url; originalUrl keeps it
    const url = (req as { originalUrl?: string }).originalUrl ?? req.url ?? '';
    if (req.method === 'POST' && ENROLL_PATH.test(url))
      return {
        kind: 'enroll',
        deviceId: null,
        bucket: `enroll:${address}`,
        rate: c.RATE_LIMIT_ENROLL_PER_SECOND,
        burst: c.RATE_LIMIT_ENROLL_BURST,
      };
    if (header.startsWith('Bearer '))
      return {
        kind: 'operator',
        deviceId: null,
        bucket: `token:${sha256Hex(header.slice(7))}`,
        rate: c.RATE_LIMIT_PER_SECOND,
        burst: c.RATE_LIMIT_BURST,
      };
    if (header.startsWith('Basic ')) {
      const id = basicId(header);
      return {
        kind: 'device',
        deviceId: id,
        bucket: id ? `device:${id}` : `addr:${address}`,
        rate: c.RATE_LIMIT_PER_SECOND,
        burst: c.RATE_LIMIT_BURST,
      };
    }
    return { kind: null, deviceId: null, bucket: `addr:${address}`, rate: c.RATE_LIMIT_PER_SECOND, burst: c.RATE_LIMIT_BURST };
  }

  private lockKey(kind: CredentialKind, who: string): string {
    return `${this.prefix}:lock:${kind}:${who}`;
  }

  private async check(cls: RequestClass, address: string): Promise<{ retryMs: number; message: string } | null> {
    const locks = cls.kind ? [this.lockKey(cls.kind, `addr:${lockoutAddress(address)}`)] : [];
    if (cls.kind === 'device' && cls.deviceId) locks.push(this.lockKey('device', `id:${cls.deviceId}`));
    const answer = await this.withRedis(
      () => CHECK.run(this.redis, [...locks, `${this.prefix}:rate:${cls.bucket}`], [locks.length, cls.rate, cls.burst]),
      'rate limit check',
    );
    if (!Array.isArray(answer)) return null;
    const [what, ms] = answer as [number, number];
    if (what === 1)
      return {
        retryMs: ms,
        message: `too many failed ${CREDENTIAL_NAME[cls.kind ?? 'operator']}s from this address${cls.kind === 'device' ? ' or for this device' : ''}; locked out, try again in ${Math.ceil(ms / 1000)} s`,
      };
    if (what === 2)
      return {
        retryMs: ms,
        message: `rate limit exceeded: at most ${cls.rate} requests per second (bursts of ${cls.burst}) ${BUCKET_NAME[cls.bucket.split(':', 1)[0] ?? 'addr'] ?? ''}; try again in ${Math.ceil(ms / 1000)} s`,
      };
    return null;
  }

  /**
   * Before the embedded broker checks a CONNECT's password: the ms left of a live lockout of its
   * address or of its device id (the same locks as artifact downloads'), else null. Redis away or
   * slow: null (the CONNECT is checked as usual).
   */
  async deviceLockout(address: string, deviceId: string): Promise<number | null> {
    const locks = [this.lockKey('device', `addr:${lockoutAddress(address)}`), this.lockKey('device', `id:${deviceId}`)];
    // rate 0: only the locks are looked at, no request bucket is taken
    const answer = await this.withRedis(
      () => CHECK.run(this.redis, [...locks, `${this.prefix}:rate:none`], [locks.length, 0, 0]),
      'lockout check',
    );
    if (!Array.isArray(answer)) return null;
    const [what, ms] = answer as [number, number];
    return what === 1 ? ms : null;
  }

  /** A CONNECT refused for its password: counted per address and per device id, audited (`via: mqtt`); a lockout too. */
  deviceFailed(address: string, deviceId: string): Promise<void> {
    return this.failed('device', address, deviceId, 'mqtt');
  }

  /** A request that presented a credential was answered 401: audited, counted, and at the limit a lockout (audited too). */
  private async failed(kind: CredentialKind, address: string, deviceId: string | null, via?: 'mqtt'): Promise<void> {
    const c = this.config;
    const subjects = [`addr:${lockoutAddress(address)}`, ...(deviceId ? [`id:${deviceId}`] : [])];
    const lockedNow: string[] = [];
    for (const who of subjects) {
      const locked = await this.withRedis(
        () =>
          FAIL.run(
            this.redis,
            [`${this.prefix}:fail:${kind}:${who}`, this.lockKey(kind, who)],
            [c.LOCKOUT_FAILURES, c.LOCKOUT_WINDOW_SECONDS * 1000, c.LOCKOUT_SECONDS * 1000],
          ),
        'failure count',
      );
      if (locked === 1) lockedNow.push(who);
    }
    try {
      await this.audit.record({
        actor: `address:${address}`,
        action: `auth.${kind}_failed`,
        targetType: 'address',
        targetId: address,
        details: { ...(deviceId ? { deviceId } : {}), ...(via ? { via } : {}) },
      });
      for (const who of lockedNow) {
        this.log.warn('credential lockout', { kind, who, seconds: c.LOCKOUT_SECONDS });
        await this.audit.record({
          actor: 'system',
          action: `auth.lockout`,
          targetType: who.startsWith('id:') ? 'device' : 'address',
          targetId: who.slice(who.indexOf(':') + 1),
          details: {
            credential: kind,
            failures: c.LOCKOUT_FAILURES,
            windowSeconds: c.LOCKOUT_WINDOW_SECONDS,
            lockSeconds: c.LOCKOUT_SECONDS,
          },
        });
      }
    } catch (e) {
      this.log.error('failed credential not audited', { kind, address, error: e instanceof Error ? e.message : String(e) });
    }
  }

  /** Redis away or slow: the request goes through (limits are protection, not a dependency) and a warning is logged at most every 10 s. */
  private async withRedis<T>(fn: () => Promise<T>, what: string): Promise<T | null> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        fn(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer in ${REDIS_TIMEOUT_MS} ms`)), REDIS_TIMEOUT_MS);
        }),
      ]);
    } catch (e) {
      const now = Date.now();
      if (now - this.lastRedisWarning > 10_000) {
        this.lastRedisWarning = now;
        this.log.warn(`${what} skipped: Redis did not answer; the request is let through`, {
          error: e instanceof Error ? e.message : String(e),
        });
      }
      return null;
    } finally {
      clearTimeout(timer);
    }
  }
}

const CREDENTIAL_NAME: Record<CredentialKind, string> = {
  operator: 'operator token',
  enroll: 'enrollment token',
  device: 'device credential',
};

const BUCKET_NAME: Record<string, string> = {
  token: 'per operator token',
  device: 'per device',
  enroll: 'of enrollment per address',
  addr: 'per address without a token',
};

function basicId(header: string): string | null {
  const m = /^Basic ([A-Za-z0-9+/=]{1,1024})$/.exec(header);
  if (!m?.[1]) return null;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const id = decoded.slice(0, Math.max(0, decoded.indexOf(':')));
  return UUID.test(id) ? id.toLowerCase() : null;
}

/** 429 with Retry-After, in the REST error shape or tRPC's (as the batch limit answers). */
function refuse(res: ServerResponse, protocol: 'rest' | 'trpc', retryMs: number, message: string): void {
  const headers = { 'content-type': 'application/json', 'retry-after': String(Math.max(1, Math.ceil(retryMs / 1000))) };
  res.writeHead(429, headers);
  res.end(
    JSON.stringify(
      protocol === 'rest'
        ? { error: { code: 'rate_limited', message } }
        : { error: { message, code: -32029, data: { code: 'TOO_MANY_REQUESTS', httpStatus: 429 } } },
    ),
  );
}
