import type { Redis } from 'ioredis';
import type { Logger } from './logger.js';
import type { RedisConnectionLog } from './redis-connection.js';

/** What a listener is told: a notice published by a replica, or that notices may have been missed. */
export type NoticeCause = 'notice' | 'subscription-lost' | 'subscription-back';

/**
 * Notices between the replicas of one deployment (one QUEUE_PREFIX on one Redis): a replica that
 * changes something others keep a copy of (e.g. a revoked operator token) publishes a notice on a
 * topic, and every replica's listeners of the topic, its own included, are called.
 *
 * Redis pub/sub delivers nothing to a subscriber that is not connected, so while the subscription
 * is down `live` is false and the listeners are called with `subscription-lost`, and again with
 * `subscription-back` once it is live again: a copy kept by a listener must then be dropped, and
 * not be kept while `live` is false.
 */
export class ChangeNotices {
  private readonly sub: Redis;
  private readonly channel: string;
  private readonly listeners = new Map<string, Set<(cause: NoticeCause) => void>>();
  private subscribed = false;
  private closed = false;

  constructor(
    private readonly pub: Redis,
    prefix: string,
    redisLog: RedisConnectionLog,
    private readonly log: Logger,
  ) {
    this.channel = `${prefix}:notices`;
    // a subscribed connection can do nothing else: its own, named so that an operator (or a test) can find it
    this.sub = pub.duplicate({ connectionName: `${prefix}-notices`, lazyConnect: true, autoResubscribe: false });
    redisLog.watch('notices', this.sub);
    this.sub.on('ready', () => void this.subscribe());
    this.sub.on('close', () => this.lost());
    this.sub.on('message', (channel: string, message: string) => {
      if (channel === this.channel) this.tell(message, 'notice');
    });
  }

  /** Connects and subscribes; a Redis that is away is not an error here (notices are then not live, and the client retries). */
  async start(): Promise<void> {
    await this.sub.connect().catch(() => undefined);
  }

  /** True while a notice published by any replica reaches this one. */
  get live(): boolean {
    return this.subscribed;
  }

  /** `listener` is called on each notice of `topic` and whenever notices may have been missed; returns its removal. */
  on(topic: string, listener: (cause: NoticeCause) => void): () => void {
    const set = this.listeners.get(topic) ?? new Set();
    set.add(listener);
    this.listeners.set(topic, set);
    return () => set.delete(listener);
  }

  /**
   * Tells every replica (this one first, synchronously). A Redis that is away is logged, not thrown:
   * the change has been made. Replicas that lost Redis too keep no copy; one that still hears Redis
   * while this one does not is not told, and must bound its copies in time (see CredentialCache).
   */
  async publish(topic: string): Promise<void> {
    this.tell(topic, 'notice');
    try {
      await this.pub.publish(this.channel, topic);
    } catch (e) {
      this.log.warn('change notice not published', { topic, error: e instanceof Error ? e.message : String(e) });
    }
  }

  close(): void {
    this.closed = true;
    this.lost();
    this.sub.disconnect();
  }

  private async subscribe(): Promise<void> {
    try {
      await this.sub.subscribe(this.channel);
    } catch {
      return; // the connection went again: 'close' said so, the next 'ready' subscribes
    }
    if (this.closed || this.sub.status !== 'ready') return;
    this.subscribed = true;
    for (const topic of this.listeners.keys()) this.tell(topic, 'subscription-back');
  }

  private lost(): void {
    if (!this.subscribed) return;
    this.subscribed = false;
    for (const topic of this.listeners.keys()) this.tell(topic, 'subscription-lost');
  }

  private tell(topic: string, cause: NoticeCause): void {
    for (const listener of this.listeners.get(topic) ?? []) listener(cause);
  }
}
