import { parseTopic, type StatusMessage, StatusMessageSchema, topics } from '@edge-fleet/shared';
import mqtt, { type MqttClient } from 'mqtt';
import { withTimeout } from '../core/async.js';
import type { Clock } from '../core/clock.js';
import { errorMessage, type Logger } from '../core/logger.js';

export type InboundKind = 'desired' | 'commands';

export interface MqttSessionOptions {
  url: string;
  deviceId: string;
  deviceSecret: string;
  bootId: string;
  clock: Clock;
  logger: Logger;
  onMessage: (kind: InboundKind, payload: Buffer) => void;
  /** Runs after presence and subscriptions are in place on every (re)connect. */
  onConnected: () => Promise<void>;
  /** Reconnect period base; each connection picks base..3×base so a fleet does not reconnect in step. */
  reconnectBaseMs?: number;
}

/** The agent's MQTT identity: presence with Last Will, its two subscriptions, JSON publishing. */
export class DeviceMqttSession {
  private client: MqttClient | null = null;

  constructor(private readonly options: MqttSessionOptions) {}

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  start(): void {
    const o = this.options;
    const offline: StatusMessage = StatusMessageSchema.parse({ state: 'offline' });
    const client = mqtt.connect(o.url, {
      protocolVersion: 4,
      clientId: o.deviceId,
      username: o.deviceId,
      password: o.deviceSecret,
      clean: true,
      keepalive: 30,
      connectTimeout: 10_000,
      reconnectPeriod: this.jitteredPeriod(),
      will: { topic: topics.status(o.deviceId), payload: Buffer.from(JSON.stringify(offline)), qos: 1, retain: true },
    });
    this.client = client;
    client.on('connect', () => void this.onConnect(client));
    client.on('message', (topic, payload) => this.route(topic, payload));
    client.on('error', (err) => o.logger.warn('mqtt error', { error: err.message }));
    client.on('offline', () => o.logger.warn('mqtt offline'));
    client.on('reconnect', () => o.logger.info('mqtt reconnecting'));
  }

  async publish(topic: string, payload: unknown, retain = false): Promise<void> {
    const client = this.client;
    if (client === null) throw new Error('mqtt session not started');
    await client.publishAsync(topic, JSON.stringify(payload), { qos: 1, retain });
  }

  /** Publishes `offline` (retained) while still connected, then disconnects cleanly. */
  async stop(): Promise<void> {
    const client = this.client;
    this.client = null;
    if (client === null) return;
    if (client.connected) {
      const offline = StatusMessageSchema.parse({ state: 'offline', bootId: this.options.bootId, at: this.nowIso() });
      await withTimeout(
        client.publishAsync(topics.status(this.options.deviceId), JSON.stringify(offline), { qos: 1, retain: true }),
        2_000,
      ).catch((err: unknown) => this.options.logger.warn('offline status not sent', { error: errorMessage(err) }));
      await withTimeout(client.endAsync(), 2_000).catch(() => client.end(true));
    } else {
      client.end(true);
    }
  }

  private async onConnect(client: MqttClient): Promise<void> {
    const o = this.options;
    client.options.reconnectPeriod = this.jitteredPeriod();
    o.logger.info('mqtt connected', { url: o.url });
    try {
      const online = StatusMessageSchema.parse({ state: 'online', bootId: o.bootId, at: this.nowIso() });
      await client.publishAsync(topics.status(o.deviceId), JSON.stringify(online), { qos: 1, retain: true });
      const granted = await client.subscribeAsync({ [topics.desired(o.deviceId)]: { qos: 1 }, [topics.commands(o.deviceId)]: { qos: 1 } });
      const refused = granted.filter((g) => g.qos === 128);
      if (refused.length > 0) o.logger.error('subscription refused', { topics: refused.map((g) => g.topic) });
      await o.onConnected();
    } catch (err) {
      o.logger.warn('mqtt on-connect work failed', { error: errorMessage(err) });
    }
  }

  private route(topic: string, payload: Buffer): void {
    const parsed = parseTopic(topic);
    if (parsed === null || parsed.deviceId !== this.options.deviceId) return;
    if (parsed.kind === 'desired' || parsed.kind === 'commands') this.options.onMessage(parsed.kind, payload);
  }

  private jitteredPeriod(): number {
    const base = this.options.reconnectBaseMs ?? 1_000;
    return Math.round(base + Math.random() * 2 * base);
  }

  private nowIso(): string {
    return new Date(this.options.clock.now()).toISOString();
  }
}
