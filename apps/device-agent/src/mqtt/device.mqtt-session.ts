import {
  encodeJson,
  lastWill,
  mqttContract,
  parseMessage,
  publishArgs,
  publishOptions,
  topicOf,
  topics,
  type DeviceMessageKind,
  type Parsed,
  type Payload,
} from '@edge-fleet/shared';
import mqtt, { type MqttClient } from 'mqtt';
import { withTimeout } from '../core/async.js';
import type { Clock } from '../core/clock.js';
import { errorMessage, type Logger } from '../core/logger.js';
import { assertEncrypted, pinnedTlsOptions, tlsRefusal } from '../core/tls-trust.js';

/** A message on one of the device's own downstream topics, parsed against the MQTT contract (or why it was refused). */
export type InboundMessage = Parsed<'desired'> | Parsed<'commands'>;

export interface MqttSessionOptions {
  url: string;
  /** mqtts: the CA certificate (PEM) pinned at enrollment, trusted alone; the host name is checked as always. */
  caPem?: string;
  deviceId: string;
  deviceSecret: string;
  bootId: string;
  clock: Clock;
  logger: Logger;
  onMessage: (message: InboundMessage) => void;
  /** Runs after presence and subscriptions are in place on every (re)connect. */
  onConnected: () => Promise<void>;
  /** Reconnect period base; each connection picks base..3×base so a fleet does not reconnect in step. */
  reconnectBaseMs?: number;
  /** Longest wait between CONNECTs the broker refuses (revoked, not provisioned yet): the backoff doubles up to it. */
  refusedBackoffCapMs?: number;
  /**
   * Longest wait between connection attempts that fail otherwise (the broker down, or accepting TCP
   * but never answering CONNECT): the backoff doubles from the base up to it, jittered.
   */
  reconnectCapMs?: number;
  /** How long a CONNECT may wait for its CONNACK before the attempt counts as failed. */
  connectTimeoutMs?: number;
  /**
   * How long a QoS 1 publish may wait for its PUBACK on an open connection before the connection is
   * taken for dead and replaced: MQTT resends unacknowledged publishes (same packet id, DUP) only
   * on a new connection, so a broker that withholds PUBACKs would otherwise hold them forever.
   */
  pubackTimeoutMs?: number;
  /** Keepalive in seconds (a broker that stops answering PINGREQ is left after 1.5× this). */
  keepaliveSeconds?: number;
}

/** Default cap of the backoff after failed (not refused) connection attempts. */
export const RECONNECT_CAP_MS = 60_000;

/** Default wait for a PUBACK before the connection is replaced. */
export const PUBACK_TIMEOUT_MS = 30_000;

/** Default cap of the backoff after refused CONNECTs: a revoked device asks about every 5 minutes. */
export const REFUSED_BACKOFF_CAP_MS = 5 * 60_000;

/**
 * The wait before the next CONNECT after `refusals` refused ones in a row: doubling from the base up
 * to the cap, with jitter (half to all of it) so a refused fleet does not come back in step.
 */
export function refusedBackoffMs(refusals: number, baseMs: number, capMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(refusals, 30));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** The agent's MQTT identity: presence with Last Will, its two subscriptions, publishing by the contract. */
export class DeviceMqttSession {
  private client: MqttClient | null = null;
  /** CONNECTs refused in a row (CONNACK with an error code); reset by an accepted one. */
  private refusals = 0;
  /** Connection attempts since the last accepted CONNECT (refused, timed out, or no TCP connection). */
  private attempts = 0;

  /** Throws PlainTextRefused (logged) for an mqtt:// or ws:// broker when a CA is pinned: the device secret never crosses in clear. */
  constructor(private readonly options: MqttSessionOptions) {
    try {
      assertEncrypted(options.url, options.caPem ?? null, 'MQTT broker URL');
    } catch (e) {
      options.logger.error(errorMessage(e), { url: options.url });
      throw e;
    }
  }

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  start(): void {
    const o = this.options;
    const client = mqtt.connect(o.url, {
      protocolVersion: 4,
      clientId: o.deviceId,
      username: o.deviceId,
      password: o.deviceSecret,
      clean: true,
      keepalive: o.keepaliveSeconds ?? 30,
      connectTimeout: o.connectTimeoutMs ?? 10_000,
      reconnectPeriod: this.jitteredPeriod(),
      // MQTT.js gives up for good on a refused CONNECT by default: a device revoked and enabled
      // again, or provisioned after it enrolled, stayed disconnected until restarted
      reconnectOnConnackError: true,
      will: lastWill(o.deviceId),
      // only the pinned CA, not the system's roots; MQTT.js refuses an unverified server by default, said here for the reader
      ...(o.caPem === undefined ? {} : pinnedTlsOptions(o.caPem)),
    });
    this.client = client;
    client.on('connect', () => void this.onConnect(client));
    client.on('message', (topic, payload) => this.route(topic, payload));
    client.on('error', (err) => {
      const code = (err as { code?: unknown }).code;
      // a CONNACK refusal: emitted just before MQTT.js schedules its reconnect, which takes this period
      if (typeof code === 'number' && code > 0 && /^Connection refused/.test(err.message)) {
        client.options.reconnectPeriod = refusedBackoffMs(
          this.refusals++,
          o.reconnectBaseMs ?? 1_000,
          o.refusedBackoffCapMs ?? REFUSED_BACKOFF_CAP_MS,
        );
        o.logger.warn('mqtt connection refused by the broker', { error: err.message, retryInMs: client.options.reconnectPeriod });
        return;
      }
      const refusal = tlsRefusal(err);
      // the credentials are not sent to a server that does not prove it is ours; this repeats until it does
      if (refusal !== null) o.logger.error(`mqtt broker refused: ${refusal}`, { url: o.url });
      else o.logger.warn('mqtt error', { error: err.message });
    });
    client.on('offline', () => o.logger.warn('mqtt offline'));
    client.on('reconnect', () => {
      // the wait after this attempt, should it fail too (a broker down or restarting, or one that
      // never answers CONNECT): doubling from the base up to the cap, jittered, so a fleet that lost
      // its broker neither hammers it nor comes back in step (RELIABILITY rows 21, 22). MQTT.js reads
      // the period when the attempt's connection closes; a refused CONNACK sets its own (above).
      client.options.reconnectPeriod = refusedBackoffMs(++this.attempts, o.reconnectBaseMs ?? 1_000, o.reconnectCapMs ?? RECONNECT_CAP_MS);
      o.logger.info('mqtt reconnecting', { attempt: this.attempts, retryInMs: client.options.reconnectPeriod });
    });
  }

  /**
   * Publishes one message of a kind devices send, with the contract's topic, QoS and retain flag.
   * Validated first: what leaves the device is what the control plane accepts (defaults filled in).
   */
  async publish<K extends DeviceMessageKind>(kind: K, payload: Payload<K>): Promise<void> {
    const client = this.client;
    if (client === null) throw new Error('mqtt session not started');
    const valid: unknown = mqttContract[kind].schema.parse(payload);
    const sent = client.publishAsync(topicOf(kind, this.options.deviceId), encodeJson(valid), publishOptions(kind));
    if (publishOptions(kind).qos === 0) return void (await sent);
    await this.untilAcknowledged(client, sent);
  }

  /**
   * Waits for a QoS 1 publish's PUBACK. Each time it has waited `pubackTimeoutMs` on a connection
   * that is still open, that connection is dropped: the reconnect (with backoff) resends the publish
   * with its packet id, and the same promise settles with that PUBACK (RELIABILITY row 22).
   */
  private async untilAcknowledged(client: MqttClient, sent: Promise<unknown>): Promise<void> {
    const limit = this.options.pubackTimeoutMs ?? PUBACK_TIMEOUT_MS;
    let settled = false;
    const done = sent.finally(() => {
      settled = true;
    });
    const timer = setInterval(() => {
      if (settled || !client.connected) return;
      this.options.logger.warn('no PUBACK: dropping the connection so that the publish is sent again on a new one', { waitedMs: limit });
      client.stream.destroy();
    }, limit);
    try {
      await done;
    } finally {
      clearInterval(timer);
    }
  }

  /** Publishes `offline` (retained) while still connected, then disconnects cleanly. */
  async stop(): Promise<void> {
    const client = this.client;
    this.client = null;
    if (client === null) return;
    if (client.connected) {
      const offline = publishArgs('status', this.options.deviceId, { state: 'offline', bootId: this.options.bootId, at: this.nowIso() });
      await withTimeout(client.publishAsync(offline.topic, offline.payload, offline.options), 2_000).catch((err: unknown) =>
        this.options.logger.warn('offline status not sent', { error: errorMessage(err) }),
      );
      await withTimeout(client.endAsync(), 2_000).catch(() => client.end(true));
    } else {
      client.end(true);
    }
  }

  private async onConnect(client: MqttClient): Promise<void> {
    const o = this.options;
    client.options.reconnectPeriod = this.jitteredPeriod();
    this.refusals = 0;
    this.attempts = 0;
    o.logger.info('mqtt connected', { url: o.url });
    try {
      const online = publishArgs('status', o.deviceId, { state: 'online', bootId: o.bootId, at: this.nowIso() });
      await client.publishAsync(online.topic, online.payload, online.options);
      const granted = await client.subscribeAsync({
        [topics.desired(o.deviceId)]: { qos: mqttContract.desired.qos },
        [topics.commands(o.deviceId)]: { qos: mqttContract.commands.qos },
      });
      const refused = granted.filter((g) => g.qos === 128);
      if (refused.length > 0) o.logger.error('subscription refused', { topics: refused.map((g) => g.topic) });
      await o.onConnected();
    } catch (err) {
      o.logger.warn('mqtt on-connect work failed', { error: errorMessage(err) });
    }
  }

  private route(topic: string, payload: Buffer): void {
    const m = parseMessage(topic, payload);
    if (m.deviceId !== this.options.deviceId) return;
    if (m.kind === 'desired' || m.kind === 'commands') this.options.onMessage(m);
  }

  private jitteredPeriod(): number {
    const base = this.options.reconnectBaseMs ?? 1_000;
    return Math.round(base + Math.random() * 2 * base);
  }

  private nowIso(): string {
    return new Date(this.options.clock.now()).toISOString();
  }
}
