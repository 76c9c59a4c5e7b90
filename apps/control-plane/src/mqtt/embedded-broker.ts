import { createServer, type Server } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import { Aedes, type AuthenticateError, type Client } from 'aedes';
import type { Logger } from '../infra/logger.js';
import { mayPublish, maySubscribe, type Identity } from './broker-acl.js';

export interface BrokerOptions {
  host: string;
  port: number;
  serviceUsername: string;
  servicePassword: string;
  /** Verifies a device's id and secret (scrypt hash in Postgres). */
  verifyDevice: (deviceId: string, secret: string) => Promise<boolean>;
  log: Logger;
}

function authError(message: string, returnCode: 2 | 4 | 5): AuthenticateError {
  const e: AuthenticateError = Object.assign(new Error(message), { returnCode });
  return e;
}

function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}

/**
 * The zero-setup MQTT broker (aedes) with per-device authentication and topic isolation.
 * A device must connect with client id = username = its device id.
 */
export class EmbeddedBroker {
  private aedes: Aedes | null = null;
  private server: Server | null = null;
  private readonly identities = new WeakMap<Client, Identity>();

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
        cb(id && mayPublish(id, packet.topic) ? null : new Error(`publish to ${packet.topic} denied`));
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
    if (username === this.o.serviceUsername) {
      if (!safeEqual(secret, this.o.servicePassword)) throw authError('bad credentials', 4);
      this.identities.set(client, { kind: 'service' });
      return;
    }
    if (client.id !== username) throw authError('client id must equal the device id', 2);
    if (!(await this.o.verifyDevice(username, secret))) throw authError('bad credentials', 4);
    this.identities.set(client, { kind: 'device', deviceId: username });
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.aedes ? this.aedes.close(() => resolve()) : resolve()));
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.aedes = null;
    this.server = null;
  }
}
