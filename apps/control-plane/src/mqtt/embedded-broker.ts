import { createServer, type Server } from 'node:net';
import { Aedes, type AedesPublishPacket, type AuthenticateError, type Client } from 'aedes';
import type { Logger } from '../infra/logger.js';
import { mayPublish, maySubscribe } from './broker-acl.js';
import type { MessageBus, MessageHandler } from './mqtt-bus.js';

export interface BrokerOptions {
  host: string;
  port: number;
  /** Verifies a device's id and secret (its hash in Postgres). */
  verifyDevice: (deviceId: string, secret: string) => Promise<boolean>;
  /**
   * Handles an authorised device publish on a topic of `ackAfter` before aedes acknowledges it
   * (aedes writes the QoS 1 PUBACK before it delivers to subscribers): telemetry is committed to
   * Postgres first, so an acknowledged window is never lost. Such topics are not delivered in process.
   */
  ackAfter?: { matches: (topic: string) => boolean; handle: (topic: string, payload: Buffer) => Promise<void> };
  log: Logger;
}

function authError(message: string, returnCode: 2 | 4 | 5): AuthenticateError {
  const e: AuthenticateError = Object.assign(new Error(message), { returnCode });
  return e;
}

/**
 * The zero-setup MQTT broker (aedes) with per-device authentication and topic isolation.
 * A device must connect with client id = username = its device id. The control plane itself is
 * not a client: it subscribes and publishes in process (`inProcessBus`).
 */
export class EmbeddedBroker {
  private aedes: Aedes | null = null;
  private server: Server | null = null;
  /** The device id each authenticated connection proved. */
  private readonly identities = new WeakMap<Client, string>();

  constructor(private readonly o: BrokerOptions) {}

  async start(): Promise<void> {
    const aedes = await Aedes.createBroker({
      maxClientsIdLength: 64,
      drainTimeout: 30_000,
      authenticate: (client, username, password, done) => {
        this.authenticate(client, username, password).then(
          () => done(null, true),
          (e: unknown) => done(e instanceof Error && 'returnCode' in e ? (e as AuthenticateError) : authError(String(e), 5), false),
        );
      },
      authorizePublish: (client, packet, cb) => {
        const id = client ? this.identities.get(client) : undefined;
        if (!id || !mayPublish(id, packet.topic)) return cb(new Error(`publish to ${packet.topic} denied`));
        const after = this.o.ackAfter;
        if (!after?.matches(packet.topic)) return cb(null);
        const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
        after.handle(packet.topic, payload).then(
          () => cb(null),
          (e: unknown) => {
            // not acknowledged: the device keeps the message and sends it again
            this.o.log.error('device publish not handled; left unacknowledged', { topic: packet.topic, error: String(e) });
            cb(new Error('not handled'));
          },
        );
      },
      authorizeSubscribe: (client, sub, cb) => {
        const id = this.identities.get(client);
        if (id && maySubscribe(id, sub.topic)) return cb(null, sub);
        this.o.log.warn('subscribe denied', { clientId: client.id, topic: sub.topic });
        return cb(new Error(`subscribe to ${sub.topic} denied`));
      },
    });
    this.aedes = aedes;
    aedes.on('clientError', (client: Client, err: Error) => this.o.log.debug('mqtt client error', { clientId: client.id, error: err.message }));
    this.server = createServer(aedes.handle);
    await new Promise<void>((resolve, reject) => {
      this.server?.once('error', reject);
      this.server?.listen(this.o.port, this.o.host, () => resolve());
    });
    this.o.log.info('embedded MQTT broker listening', { url: `mqtt://${this.o.host}:${this.o.port}` });
  }

  private async authenticate(client: Client, username?: string, password?: Buffer): Promise<void> {
    const secret = password?.toString('utf8') ?? '';
    if (!username) throw authError('username required', 4);
    if (client.id !== username) throw authError('client id must equal the device id', 2);
    if (!(await this.o.verifyDevice(username, secret))) throw authError('bad credentials', 4);
    this.identities.set(client, username);
  }

  /**
   * The control plane's in-process side of the embedded broker: subscriptions and publishes go
   * straight to aedes (no loopback MQTT client, no encode/decode per message).
   */
  inProcessBus(filters: string[], log: Logger): MessageBus {
    let handler: MessageHandler = () => Promise.resolve();
    const deliver = (packet: AedesPublishPacket, cb: () => void): void => {
      const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
      handler(packet.topic, payload).catch((e: unknown) => log.error('message handler failed', { topic: packet.topic, error: String(e) }));
      cb(); // aedes needs the callback before deliver returns; the handler runs on
    };
    const aedes = (): Aedes => {
      if (!this.aedes) throw new Error('embedded broker not started');
      return this.aedes;
    };
    return {
      onMessage: (h) => {
        handler = h;
      },
      get connected() {
        return true;
      },
      start: async () => {
        for (const f of filters) await new Promise<void>((resolve) => aedes().subscribe(f, deliver, () => resolve()));
      },
      publish: (topic, payload, opts = {}) =>
        new Promise<void>((resolve, reject) => {
          const packet = { cmd: 'publish' as const, topic, payload: Buffer.from(payload), qos: 1 as const, retain: opts.retain ?? false, dup: false };
          aedes().publish(packet, (err) => (err ? reject(err) : resolve()));
        }),
      stop: async () => {
        const a = this.aedes;
        if (a) for (const f of filters) await new Promise<void>((resolve) => a.unsubscribe(f, deliver, () => resolve()));
      },
    };
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.aedes ? this.aedes.close(() => resolve()) : resolve()));
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.aedes = null;
    this.server = null;
  }
}
