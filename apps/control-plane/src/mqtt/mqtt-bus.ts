import type { PublishOptions } from '@edge-fleet/shared';
import mqtt, { type MqttClient } from 'mqtt';
import type { Logger } from '../infra/logger.js';

export interface MqttBusOptions {
  url: string;
  username?: string | undefined;
  password?: string | undefined;
  clientId: string;
  /** Filters to subscribe to (QoS 1); re-subscribed on every reconnect. */
  filters: string[];
  log: Logger;
  /**
   * How long a publish waits for its PUBACK. Past it the publish is refused (its caller retries) and
   * the connection, on which the broker answers nothing more, is replaced (RELIABILITY row 22).
   */
  pubackTimeoutMs?: number;
}

/** Default wait for a PUBACK (MQTT_PUBACK_TIMEOUT_MS). */
export const PUBACK_TIMEOUT_MS = 10_000;

/**
 * How each of the control plane's own connections to an external broker connects: a clean session
 * (it renews its subscriptions on every connect), reconnecting every second, nothing queued while
 * the broker is away (a publish or request refuses at once and its caller retries).
 */
export function controlPlaneClientOptions(o: { clientId: string; username?: string | undefined; password?: string | undefined }) {
  return {
    clientId: o.clientId,
    username: o.username,
    password: o.password,
    protocolVersion: 4 as const,
    clean: true,
    reconnectPeriod: 1_000,
    connectTimeout: 10_000,
    queueQoSZero: false,
  };
}

export type MessageHandler = (topic: string, payload: Buffer) => Promise<void>;

/** How the control plane talks to devices: subscribe to their messages, publish to them. */
export interface MessageBus {
  onMessage(handler: MessageHandler): void;
  readonly connected: boolean;
  start(): Promise<void>;
  /** QoS 1 and not retained unless `opts` says otherwise (`publishArgs` gives a kind's options). */
  publish(topic: string, payload: string, opts?: Partial<PublishOptions>): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The control plane's own MQTT connection, to an external broker. It is `connected` only once its
 * subscriptions are back after a (re)connect: the broker forgets a clean session, and a publish
 * that went out before the subscriptions were renewed could draw device replies nobody receives.
 * Until then `publish` refuses at once (the desired-state job retries with backoff) instead of
 * letting the client buffer it.
 */
export class MqttBus implements MessageBus {
  private client: MqttClient | null = null;
  private handler: MessageHandler = () => Promise.resolve();
  private subscribed = false;

  constructor(private readonly o: MqttBusOptions) {}

  onMessage(handler: MessageHandler): void {
    this.handler = handler;
  }

  get connected(): boolean {
    return (this.client?.connected ?? false) && this.subscribed;
  }

  async start(): Promise<void> {
    const client = mqtt.connect(this.o.url, controlPlaneClientOptions(this.o));
    this.client = client;
    const ready = new Promise<void>((resolve) => {
      client.on('connect', () => {
        client.subscribe(this.o.filters, { qos: 1 }, (err) => {
          if (err) {
            this.o.log.error('subscribe failed', { error: err.message });
            return;
          }
          this.subscribed = true;
          resolve();
        });
      });
    });
    client.on('close', () => {
      this.subscribed = false;
    });
    client.on('message', (topic, payload) => {
      this.handler(topic, payload).catch((e: unknown) => this.o.log.error('mqtt handler failed', { topic, error: String(e) }));
    });
    client.on('error', (e) => this.o.log.warn('mqtt error', { error: e.message }));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      ready,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`MQTT broker at ${this.o.url} did not accept a connection and subscriptions within 10 s`)),
          10_000,
        );
      }),
    ]).finally(() => clearTimeout(timer));
  }

  async publish(topic: string, payload: string, opts: Partial<PublishOptions> = {}): Promise<void> {
    const client = this.client;
    if (!client) throw new Error('MQTT bus not started');
    if (!this.connected)
      throw new Error(
        `MQTT broker at ${this.o.url} is not connected (or its subscriptions are not renewed yet): publish refused, to be retried`,
      );
    const limit = this.o.pubackTimeoutMs ?? PUBACK_TIMEOUT_MS;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      client.publishAsync(topic, payload, { qos: opts.qos ?? 1, retain: opts.retain ?? false }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          // a broker that withholds a PUBACK: a new connection (clean session) takes over, and the
          // caller publishes again; the old publish, resent by MQTT.js, is the same full state
          this.o.log.warn('no PUBACK: replacing the connection to the broker', { topic, waitedMs: limit });
          if (this.client === client) client.stream.destroy();
          reject(new Error(`MQTT broker at ${this.o.url} did not acknowledge a publish to ${topic} within ${limit} ms: to be retried`));
        }, limit);
      }),
    ]).finally(() => clearTimeout(timer));
  }

  async stop(): Promise<void> {
    await this.client?.endAsync();
    this.client = null;
    this.subscribed = false;
  }
}
