import { randomUUID } from 'node:crypto';
import { DYNSEC_RESPONSE_TOPIC, DYNSEC_TOPIC, DynsecResponsesSchema, decodeJson, type DynsecResponse } from '@edge-fleet/shared';
import mqtt, { type MqttClient } from 'mqtt';
import type { Logger } from '../infra/logger.js';
import { controlPlaneClientOptions } from './mqtt-bus.js';

/** One command of Mosquitto's dynamic-security plugin (plugins/dynamic-security/README.md). */
export interface DynsecCommand {
  command: string;
  [field: string]: unknown;
}

export interface DynsecClientOptions {
  url: string;
  username: string;
  password: string;
  /** mqtts: the CA (PEM) the broker's certificate must chain to. */
  ca?: string | undefined;
  log: Logger;
  /** How long a request waits for the plugin's answers. */
  timeoutMs?: number;
}

/** Commands per request: each answer names its command, and a request stays far below Mosquitto's max_packet_size. */
const COMMANDS_PER_REQUEST = 200;

/**
 * The control plane's administration connection to Mosquitto's dynamic-security plugin: commands
 * are published on `$CONTROL/dynamic-security/v1`, the plugin answers every subscriber on
 * `…/response` (QoS 0), so each command carries a correlation id and the answers are matched to
 * their request by it; answers to other replicas' requests are ignored. Answers are validated
 * before use. Its own connection, not the ingest's: the ingest's subscriptions are shared between
 * replicas, and every replica must see its own answers.
 */
export class DynsecClient {
  private client: MqttClient | null = null;
  private readonly waiting = new Map<string, (r: DynsecResponse) => void>();

  constructor(private readonly o: DynsecClientOptions) {}

  async start(): Promise<void> {
    const client = mqtt.connect(this.o.url, controlPlaneClientOptions({ ...this.o, clientId: `edge-fleet-dynsec-${randomUUID()}` }));
    this.client = client;
    client.on('message', (topic, payload) => {
      if (topic === DYNSEC_RESPONSE_TOPIC) this.answer(payload);
    });
    client.on('error', (e) => this.o.log.warn('dynamic-security connection error', { error: e.message }));
    const subscribed = (): Promise<void> =>
      client.subscribeAsync(DYNSEC_RESPONSE_TOPIC, { qos: 0 }).then((granted) => {
        if (granted.some((g) => g.qos === 128))
          throw new Error(
            `the broker refused ${this.o.username} a subscription to ${DYNSEC_RESPONSE_TOPIC}: is it the dynamic-security admin?`,
          );
      });
    // a clean session: the answers' subscription is renewed on every reconnect
    client.on('connect', (ack) => {
      if (!ack.sessionPresent)
        subscribed().catch((e: unknown) => this.o.log.error('dynamic-security subscription failed', { error: String(e) }));
    });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      new Promise<void>((resolve, reject) => {
        client.once('connect', () => void subscribed().then(resolve, reject));
        client.once('error', reject);
      }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`MQTT broker at ${this.o.url} did not accept the dynamic-security admin within 10 s`)),
          10_000,
        );
      }),
    ]).finally(() => clearTimeout(timer));
  }

  /**
   * Runs commands in order; resolves with one answer per command (an answer may carry an `error`).
   * A request left unanswered is sent once more: another replica changing the control plane's role
   * disconnects this connection too, and an answer published before the subscription is renewed is
   * lost (the callers' commands are idempotent: "already exists" is what a repeat gets).
   */
  async run(commands: readonly DynsecCommand[]): Promise<DynsecResponse[]> {
    const out: DynsecResponse[] = [];
    for (let i = 0; i < commands.length; i += COMMANDS_PER_REQUEST) {
      const batch = commands.slice(i, i + COMMANDS_PER_REQUEST);
      const answers = await this.request(batch).catch(async (e: unknown) => {
        this.o.log.warn('dynamic-security request unanswered; sent again', { error: e instanceof Error ? e.message : String(e) });
        await this.waitAnswering();
        return this.request(batch);
      });
      out.push(...answers);
    }
    return out;
  }

  /**
   * Sends commands whose effect may end this connection (the plugin disconnects every client of a
   * username whose roles change, the control plane's own included): resolves once the answers are
   * in or the connection is back, whichever comes first. The caller reads the outcome back.
   */
  async runExpectingKick(commands: readonly DynsecCommand[]): Promise<void> {
    const client = this.requireClient();
    const back = new Promise<void>((resolve) => client.once('close', () => client.once('connect', () => resolve())));
    await Promise.race([this.request(commands).then(() => undefined), back]);
    // the answers' subscription is renewed on connect: wait until a harmless request is answered
    await this.waitAnswering();
  }

  async stop(): Promise<void> {
    await this.client?.endAsync();
    this.client = null;
    for (const resolve of this.waiting.values()) resolve({ command: 'stopped', error: 'the dynamic-security connection was closed' });
    this.waiting.clear();
  }

  private async waitAnswering(): Promise<void> {
    const until = Date.now() + (this.o.timeoutMs ?? 10_000);
    for (;;) {
      try {
        await this.request([{ command: 'getDefaultACLAccess' }], 1_000);
        return;
      } catch (e) {
        if (Date.now() > until) throw e;
      }
    }
  }

  private async request(commands: readonly DynsecCommand[], timeoutMs = this.o.timeoutMs ?? 10_000): Promise<DynsecResponse[]> {
    const client = this.requireClient();
    if (!client.connected)
      throw new Error(`MQTT broker at ${this.o.url} is not connected: dynamic-security request refused, to be retried`);
    const ids = commands.map(() => randomUUID());
    const answers = ids.map((id) => new Promise<DynsecResponse>((resolve) => this.waiting.set(id, resolve)));
    let timer: NodeJS.Timeout | undefined;
    try {
      await client.publishAsync(DYNSEC_TOPIC, JSON.stringify({ commands: commands.map((c, i) => ({ ...c, correlationData: ids[i] })) }), {
        qos: 1,
      });
      return await Promise.race([
        Promise.all(answers),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`the dynamic-security plugin did not answer ${commands[0]?.command ?? ''}… within ${timeoutMs} ms`)),
            timeoutMs,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
      for (const id of ids) this.waiting.delete(id);
    }
  }

  private answer(payload: Buffer): void {
    const parsed = DynsecResponsesSchema.safeParse(decodeJson(payload));
    if (!parsed.success) {
      this.o.log.warn('dynamic-security answer refused: not the shape the plugin sends', { bytes: payload.length });
      return;
    }
    for (const r of parsed.data.responses) {
      const resolve = r.correlationData === undefined ? undefined : this.waiting.get(r.correlationData);
      resolve?.(r);
    }
  }

  private requireClient(): MqttClient {
    if (!this.client) throw new Error('dynamic-security client not started');
    return this.client;
  }
}
