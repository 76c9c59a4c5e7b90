import type { EventEmitter } from 'node:events';
import { LogThrottle, RateLimitedLog, type Logger } from './logger.js';

/** How ioredis and BullMQ say the server is not there (refused, reset, closed, timed out). */
const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'ECONNABORTED']);
const CONNECTION_MESSAGE = /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|Connection is closed|connect ETIMEDOUT|Stream isn't writeable/i;

export function isConnectionError(e: unknown): boolean {
  if (!(e instanceof Error)) return false;
  const code = 'code' in e ? String(e.code) : '';
  return CONNECTION_CODES.has(code) || CONNECTION_MESSAGE.test(e.message);
}

/**
 * The one place a process's Redis clients report their connection errors. ioredis emits an
 * 'error' on every reconnect attempt and, on a client without a listener, prints each as a
 * multi-line stack trace on stderr (180 lines in 9 s of outage, issue 14); here an outage is one
 * JSON line when the first client loses Redis and one when the first gets it back (Redis answers
 * again; the other clients follow on their own backoff), and a flapping Redis is held to a few
 * lines a minute (the next line written says how many were not).
 */
export class RedisConnectionLog {
  /**
   * Clients that have lost Redis and not yet got it back. After an outage ends, the ones still on
   * their reconnect backoff stay here: their attempts before they return are not a new outage.
   */
  private readonly down = new Set<string>();
  private outage = false;
  private since = 0;
  private readonly out: RateLimitedLog;

  constructor(log: Logger) {
    this.out = new RateLimitedLog(log, new LogThrottle(4, 20, 60_000));
  }

  /** An ioredis client of ours: its errors and its returns ('ready') are the process's Redis state. */
  watch(name: string, client: EventEmitter): void {
    client.on('error', (e: Error) => this.lost(name, e));
    client.on('ready', () => this.back(name));
  }

  /**
   * A BullMQ Queue or Worker: it forwards its connections' errors and its own failures. The
   * connection errors are not logged here: the clients watched share the Redis and say when it
   * goes and comes back (a worker's blocking connection often notices first, so logging it would
   * add lines before that one); its own failures are logged, rate-limited.
   */
  watchEmitter(name: string, emitter: EventEmitter): void {
    emitter.on('error', (e: Error) => {
      if (!isConnectionError(e)) this.out.warn(`error:${name}`, `${name} error`, { error: e.message });
    });
  }

  private lost(name: string, e: Error): void {
    if (this.down.has(name)) return;
    this.down.add(name);
    if (this.outage) return;
    this.outage = true;
    this.since = Date.now();
    this.out.warn('redis', 'redis unreachable', { client: name, error: e.message });
  }

  private back(name: string): void {
    this.down.delete(name);
    if (!this.outage) return;
    this.outage = false;
    this.out.info('redis', 'redis reachable again', { client: name, downMs: Date.now() - this.since });
  }
}
