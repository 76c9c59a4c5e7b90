import type { PublishOptions } from '@edge-fleet/shared';
import mqtt, { type IPublishPacket, type MqttClient } from 'mqtt';
import { RateLimitedLog, type Logger } from '../infra/logger.js';

export interface MqttBusOptions {
  url: string;
  username?: string | undefined;
  password?: string | undefined;
  /**
   * The ingest's client id (MQTT_CLIENT_ID): fixed per replica, because its session is persistent.
   * The broker keeps what it has not had acknowledged (and queues what arrives) while the replica is
   * away, and hands it over when the same id connects again (RELIABILITY row 18).
   */
  clientId: string;
  /** Filters to subscribe to (QoS 1); re-subscribed on every reconnect. */
  filters: string[];
  /** mqtts: the CA (PEM) the broker's certificate must chain to (TLS=on: the one devices pin); default the system's roots. */
  ca?: string | undefined;
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
 * An MQTT 3.1.1 PUBACK (OASIS MQTT 3.1.1, section 3.4): fixed header 0x40, remaining length 2, the
 * packet identifier big-endian.
 */
export function pubackPacket(messageId: number): Buffer {
  return Buffer.from([0x40, 0x02, messageId >> 8, messageId & 0xff]);
}

/**
 * What the bus hands MQTT.js so that it skips its own PUBACK (see `receive`): one instance, since
 * MQTT.js only checks that there is an error, and a new Error per message (its stack trace) was
 * 13 % of the control plane's CPU under bench:ingest on Mosquitto (README, "Performance").
 */
const ACK_DEFERRED = new Error('acknowledged by the bus once handled');

/** Longest wait before a message its handler refused is handled again. */
const MAX_RETRY_DELAY_MS = 30_000;

/**
 * How each of the control plane's own connections to an external broker connects: a clean session
 * unless `persistent` (it renews its subscriptions on every connect either way), reconnecting every
 * second, nothing queued while the broker is away (a publish or request refuses at once and its
 * caller retries).
 */
export function controlPlaneClientOptions(o: {
  clientId: string;
  username?: string | undefined;
  password?: string | undefined;
  persistent?: boolean;
  ca?: string | undefined;
}) {
  return {
    ...(o.ca === undefined ? {} : { ca: o.ca }),
    clientId: o.clientId,
    username: o.username,
    password: o.password,
    protocolVersion: 4 as const,
    clean: o.persistent !== true,
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
  publish(topic: string, payload: string | Buffer, opts?: Partial<PublishOptions>): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The control plane's own MQTT connection, to an external broker. It is `connected` only once its
 * subscriptions are back after a (re)connect: a publish that went out before the subscriptions were
 * renewed could draw device replies nobody receives. Until then `publish` refuses at once (the
 * desired-state job retries with backoff) instead of letting the client buffer it.
 *
 * Acknowledged means handled (RELIABILITY row 18): a device message is acknowledged to the broker
 * only once its handler has resolved (a telemetry window is a row or a dead letter). The session is
 * persistent under a fixed client id, so what was not acknowledged when the process died is sent
 * again when it comes back, and what arrives meanwhile is queued for it. A message its handler could
 * not take now (the ingest full, Postgres away) stays unacknowledged and is handled again later.
 */
export class MqttBus implements MessageBus {
  private client: MqttClient | null = null;
  private handler: MessageHandler = () => Promise.resolve();
  private subscribed = false;
  /** Refused messages happen per message: their log lines are rate-limited per topic. */
  private readonly refusals: RateLimitedLog;
  /** The connection whose PUBACKs are being gathered into one write (see `acknowledge`). */
  private corked: MqttClient['stream'] | null = null;
  /** Set by `drain`: the subscriptions are given up, not renewed, on a (re)connect. */
  private draining = false;
  /** Device messages received and not yet handled (their handler has not resolved). */
  private unhandled = 0;
  /** Device messages handled since start, and when the last one arrived (`drain` waits for quiet). */
  private handled = 0;
  private lastArrival = 0;

  constructor(private readonly o: MqttBusOptions) {
    this.refusals = new RateLimitedLog(o.log);
  }

  onMessage(handler: MessageHandler): void {
    this.handler = handler;
  }

  get connected(): boolean {
    return (this.client?.connected ?? false) && this.subscribed;
  }

  async start(): Promise<void> {
    const client = mqtt.connect(this.o.url, controlPlaneClientOptions({ ...this.o, persistent: true }));
    this.client = client;
    client.handleMessage = (packet, done) => this.receive(client, packet, done);
    const ready = new Promise<void>((resolve) => {
      client.on('connect', () => {
        if (this.draining) {
          // a persistent session keeps its subscriptions: a drain that reconnected gives them up again
          client.unsubscribe(this.o.filters, (err) => err && this.o.log.warn('unsubscribe failed', { error: err.message }));
          return;
        }
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

  async publish(topic: string, payload: string | Buffer, opts: Partial<PublishOptions> = {}): Promise<void> {
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

  /**
   * MQTT.js sends a QoS 1 PUBACK once `handleMessage` calls back, and reads no further packet until
   * then (github.com/mqttjs/MQTT.js/issues/691): waiting there for a commit would take one window per
   * flush. So it is called back at once with an error, which skips its PUBACK and moves on to the
   * next packet (handlers/publish.js), and the PUBACK is written here once the handler has resolved,
   * on the connection the message came on; on a replaced one it is not sent: the broker sends the
   * message again, and its second arrival is recognised as a duplicate and acknowledged.
   */
  private receive(client: MqttClient, packet: IPublishPacket, done: (error?: Error) => void): void {
    const stream = client.stream;
    done(ACK_DEFERRED);
    this.unhandled++;
    this.lastArrival = Date.now();
    void this.handleUntilDone(client, stream, packet).finally(() => {
      this.unhandled--;
      this.handled++;
    });
  }

  /**
   * A message its handler refuses (the ingest full, Postgres away) is handled again after 1 s,
   * doubling to 30 s, while its connection lasts; it holds one of the broker's in-flight slots
   * meanwhile, which is what slows the broker down. Replacing the connection instead made the broker
   * send every unacknowledged message again, the handled ones too (their acknowledgements are lost
   * with the connection): under load (bench:ingest on Mosquitto) that loop committed under 100 windows/s.
   */
  private async handleUntilDone(client: MqttClient, stream: MqttClient['stream'], packet: IPublishPacket): Promise<void> {
    const topic = packet.topic;
    const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
    const current = () => this.client === client && client.stream === stream && !stream.destroyed;
    for (let delay = 1_000; ; delay = Math.min(MAX_RETRY_DELAY_MS, delay * 2)) {
      try {
        await this.handler(topic, payload);
        break;
      } catch (e) {
        this.refusals.error(topic, 'device message not handled; left unacknowledged and handled again later', {
          topic,
          retryInMs: delay,
          error: String(e),
        });
        // the connection is gone: the broker sends the message again to whoever holds the session
        if (!current()) return;
        await new Promise((resolve) => setTimeout(resolve, delay).unref());
        if (!current()) return;
      }
    }
    const id = packet.messageId;
    if (packet.qos === 1 && id !== undefined && current()) this.acknowledge(stream, id);
  }

  /**
   * A commit settles its whole batch at once, so its PUBACKs are written in one turn of the event
   * loop: they are gathered (the socket corked) and leave in one write at the end of that turn,
   * instead of one write system call each, which bench:ingest measured as a large share of the
   * control plane's CPU per window (README, "Performance").
   */
  private acknowledge(stream: MqttClient['stream'], id: number): void {
    if (this.corked !== stream) {
      this.corked = stream;
      stream.cork();
      setImmediate(() => {
        if (this.corked === stream) this.corked = null;
        stream.uncork();
      });
    }
    stream.write(pubackPacket(id));
  }

  /**
   * Empties this client id's persistent session and removes it from the broker (the `drain-session`
   * command, for a replica removed for good; README "Acknowledged means stored"): gives up the shared
   * subscriptions, so the broker routes no new device message to this session, handles what the
   * session held until no message has arrived for `quietMs` and every one received is handled
   * (acknowledged after its commit, as always), then ends the session by connecting once more under
   * the same id with a clean session. Past `timeoutMs` it stops and leaves the session in place.
   */
  async drain(o: { quietMs: number; timeoutMs: number }): Promise<{ handled: number }> {
    const client = this.client;
    if (!client) throw new Error('MQTT bus not started');
    this.draining = true;
    this.subscribed = false;
    await client.unsubscribeAsync(this.o.filters);
    const until = Date.now() + o.timeoutMs;
    this.lastArrival = Math.max(this.lastArrival, Date.now());
    while (this.unhandled > 0 || Date.now() - this.lastArrival < o.quietMs) {
      if (Date.now() > until)
        throw new Error(
          `session ${this.o.clientId} not drained within ${o.timeoutMs} ms: ${this.unhandled} message(s) still unhandled; the session is left on the broker`,
        );
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await client.endAsync();
    this.client = null;
    const cleaner = await mqtt.connectAsync(this.o.url, {
      ...controlPlaneClientOptions({ ...this.o, persistent: false }),
      reconnectPeriod: 0,
    });
    await cleaner.endAsync();
    return { handled: this.handled };
  }

  async stop(): Promise<void> {
    await this.client?.endAsync();
    this.client = null;
    this.subscribed = false;
  }
}
