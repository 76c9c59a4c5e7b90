import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { Readable } from 'node:stream';
import { Aedes, type AedesPublishPacket, type AuthenticateError, type Client } from 'aedes';
import { isCanonicalDeviceId } from '../devices/device-auth.service.js';
import { RateLimitedLog, type Logger } from '../infra/logger.js';
import { mayPublish, maySubscribe } from './broker-acl.js';
import type { MessageBus, MessageHandler } from './mqtt-bus.js';
import { PacketSizeGuard, guardSocket } from './packet-size-guard.js';
import { TakeoverGuard, type TakeoverLimits } from './takeover-guard.js';

export interface BrokerOptions {
  host: string;
  port: number;
  /** Largest packet (remaining length) an authenticated device may send; before authentication a few KiB. */
  maxPacketBytes?: number;
  /** When one identity's sessions taking each other over is a clone, and how long its CONNECTs are then refused (RELIABILITY row 13). */
  takeovers?: TakeoverLimits;
  /**
   * TLS=on: mqtts on `port` with this certificate; the plain listener (`BrokerOptions.port`) stays
   * closed unless `plain` (a migration aid: device secrets would cross it in clear).
   */
  tls?: { port: number; cert: string; key: string; plain: boolean };
  log: Logger;
}

/** Default takeover limits (CLONE_TAKEOVERS, CLONE_WINDOW_SECONDS, CLONE_HOLDOFF_SECONDS). */
export const DEFAULT_TAKEOVER_LIMITS: TakeoverLimits = { limit: 3, windowMs: 60_000, holdOffMs: 30_000 };

/** The control plane's services the broker calls; given at `start`, once they exist. */
export interface DeviceHooks {
  /** Verifies a device's id and secret (its hash in Postgres). */
  verifyDevice: (deviceId: string, secret: string) => Promise<boolean>;
  /**
   * Handles an authorised device publish on a topic of `ackAfter` before aedes acknowledges it
   * (aedes writes the QoS 1 PUBACK before it delivers to subscribers): telemetry is committed to
   * Postgres first, so an acknowledged window is never lost. Such topics are not delivered in process.
   */
  ackAfter?: { matches: (topic: string) => boolean; handle: (topic: string, payload: Buffer) => Promise<void> };
  /**
   * Called when an authenticated device's connection is established (after its CONNACK) and when it
   * ends, cleanly or not: presence comes from the connection, not from what the device says.
   */
  presence?: (deviceId: string, state: 'online' | 'offline') => void;
  /** Two clients with one identity: their sessions took each other over past the limit (RELIABILITY row 13). */
  cloneSuspected?: (deviceId: string, reason: string) => void;
  /**
   * CONNECT password failures (RELIABILITY row 25), counted across replicas in Redis by the abuse
   * limits: the ms left of a lockout of the client's address or device id, or null to go on.
   */
  lockout?: (address: string, deviceId: string) => Promise<number | null>;
  /** A CONNECT refused for a wrong password: counted (and audited) per address and device id. */
  passwordFailed?: (address: string, deviceId: string) => void;
}

function authError(message: string, returnCode: 2 | 3 | 4 | 5): AuthenticateError {
  const e: AuthenticateError = Object.assign(new Error(message), { returnCode });
  return e;
}

interface RetainedStore {
  storeRetained: (packet: AedesPublishPacket, cb?: unknown) => unknown;
  createRetainedStreamCombi: (patterns: string[]) => Readable;
}

/**
 * aedes' memory persistence finds the retained messages for a SUBSCRIBE by testing every retained
 * topic against the filter: each device's subscription to its own desired-state topic scanned the
 * whole fleet's retained messages, so admitting N devices cost O(N²) (10,000 devices took 108 s
 * to connect in bench:fanout, a third of the broker's CPU in that scan). Device subscriptions are
 * exact topics, so those are answered from a map by topic; a filter with a wildcard still goes to
 * the scan. Every retained write passes through here, so the map cannot drift from the store.
 */
export function indexRetainedByTopic(aedes: Aedes): void {
  const store = (aedes as unknown as { persistence: RetainedStore }).persistence;
  const byTopic = new Map<string, AedesPublishPacket>();
  const storeRetained = store.storeRetained.bind(store);
  const scan = store.createRetainedStreamCombi.bind(store);
  store.storeRetained = (packet, cb) => {
    if (packet.payload.length === 0) byTopic.delete(packet.topic);
    else byTopic.set(packet.topic, { ...packet });
    return storeRetained(packet, cb);
  };
  store.createRetainedStreamCombi = (patterns) =>
    patterns.some((p) => p.includes('+') || p.includes('#'))
      ? scan(patterns)
      : Readable.from(patterns.flatMap((p) => byTopic.get(p) ?? []));
}

/** Default largest packet an authenticated device may send (MQTT_MAX_PACKET_KB). */
export const DEFAULT_MAX_PACKET_BYTES = 256 * 1024;

/** Publishes from the control plane that aedes works on at once; the rest wait their turn here. */
export const IN_PROCESS_PUBLISHES_IN_FLIGHT = 64;

/** At most `max` tasks at once, the rest started in order as earlier ones end. */
export class Limiter {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly max: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.max) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.running++;
    try {
      return await task();
    } finally {
      // a finished task hands its slot straight to the next waiting one
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}

/**
 * The zero-setup MQTT broker (aedes) with per-device authentication and topic isolation.
 * A device must connect with client id = username = its device id. The control plane itself is
 * not a client: it subscribes and publishes in process (`inProcessBus`).
 */
export class EmbeddedBroker {
  private aedes: Aedes | null = null;
  private servers: Server[] = [];
  /** The mqtts listener (TLS on): its certificate can be swapped without a restart. */
  private tlsServer: TlsServer | null = null;
  /** The device id each authenticated connection proved. */
  private readonly identities = new WeakMap<Client, string>();
  /** The packet-size guard of each connection, raised to the full limit once it authenticates. */
  private readonly guards = new WeakMap<object, PacketSizeGuard>();

  private hooks: DeviceHooks = { verifyDevice: () => Promise.resolve(false) };
  private readonly takeovers: TakeoverGuard;

  /** Publishes left unacknowledged (the ingest buffer full, the database away) happen per message: rate-limited per client. */
  private readonly unhandled: RateLimitedLog;

  constructor(private readonly o: BrokerOptions) {
    this.unhandled = new RateLimitedLog(o.log);
    this.takeovers = new TakeoverGuard(o.takeovers ?? DEFAULT_TAKEOVER_LIMITS);
  }

  /** Clients connected now (devices and any other authenticated client). */
  get connectedClients(): number {
    return this.aedes?.connectedClients ?? 0;
  }

  /**
   * The broker exists before the services (the in-process bus is infrastructure they are built
   * with); the services it calls are handed in here, before it accepts a connection.
   */
  async start(hooks: DeviceHooks): Promise<void> {
    this.hooks = hooks;
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
        const after = this.hooks.ackAfter;
        if (!after?.matches(packet.topic)) return cb(null);
        const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
        after.handle(packet.topic, payload).then(
          () => cb(null),
          (e: unknown) => {
            // not acknowledged: the device keeps the message and sends it again
            this.unhandled.error(id, 'device publish not handled; left unacknowledged', { topic: packet.topic, error: String(e) });
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
    indexRetainedByTopic(aedes);
    this.aedes = aedes;
    aedes.on('clientReady', (client: Client) => this.presence(client, 'online'));
    aedes.on('clientDisconnect', (client: Client) => this.presence(client, 'offline'));
    aedes.on('clientError', (client: Client, err: Error) =>
      this.o.log.debug('mqtt client error', { clientId: client.id, error: err.message }),
    );
    const maxPacketBytes = this.o.maxPacketBytes ?? DEFAULT_MAX_PACKET_BYTES;
    const connection = (socket: Socket): void => {
      const guard = new PacketSizeGuard(maxPacketBytes);
      this.guards.set(socket, guard);
      guardSocket(socket, guard, (reason) =>
        this.o.log.warn('mqtt connection closed: packet too large', { remote: socket.remoteAddress, reason }),
      );
      aedes.handle(socket);
    };
    const tls = this.o.tls;
    if (tls) {
      // a client that does not speak TLS, or does not trust us, fails the handshake before aedes sees a byte
      const server = createTlsServer({ cert: tls.cert, key: tls.key }, connection);
      this.tlsServer = server;
      server.on('tlsClientError', (err, socket) =>
        this.o.log.debug('mqtts handshake failed', { remote: socket.remoteAddress, error: err.message }),
      );
      await this.listen(server, tls.port, `mqtts://${this.o.host}:${tls.port}`);
    }
    if (!tls || tls.plain) await this.listen(createServer(connection), this.o.port, `mqtt://${this.o.host}:${this.o.port}`);
  }

  private async listen(server: Server, port: number, url: string): Promise<void> {
    this.servers.push(server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, this.o.host, () => resolve());
    });
    this.o.log.info('embedded MQTT broker listening', { url });
  }

  /** Serves `pair` to the next mqtts handshakes; sessions already open keep theirs (the TLS certificate reload). */
  setCertificate(pair: { cert: string; key: string }): void {
    this.tlsServer?.setSecureContext(pair);
  }

  /**
   * Ends a device's live session at once (a revoked device): its Last Will is dropped first, so the
   * broker publishes nothing on its behalf afterwards. Its next CONNECT meets the check in Postgres.
   */
  disconnectDevice(deviceId: string): boolean {
    const client = (this.aedes as unknown as { clients: Record<string, Client | undefined> } | null)?.clients[deviceId];
    if (!client) return false;
    (client as unknown as { will: unknown }).will = null;
    client.close();
    this.o.log.info('device session ended by the control plane', { deviceId });
    return true;
  }

  private presence(client: Client, state: 'online' | 'offline'): void {
    const id = this.identities.get(client);
    if (id !== undefined) this.hooks.presence?.(id, state);
  }

  private async authenticate(client: Client, username?: string, password?: Buffer): Promise<void> {
    const secret = password?.toString('utf8') ?? '';
    if (!username) throw authError('username required', 4);
    if (client.id !== username) throw authError('client id must equal the device id', 2);
    if (!isCanonicalDeviceId(username)) throw authError('the device id must be given as issued (a lowercase UUID)', 2);
    const address = (client.conn as { remoteAddress?: string }).remoteAddress ?? 'unknown';
    const lockedMs = (await this.hooks.lockout?.(address, username)) ?? null;
    // "server unavailable": the agent backs off and tries again, as after a takeover hold-off
    if (lockedMs !== null)
      throw authError(
        `too many failed CONNECTs from this address or for this device; locked out, try again in ${Math.ceil(lockedMs / 1_000)} s`,
        3,
      );
    if (!(await this.hooks.verifyDevice(username, secret))) {
      this.hooks.passwordFailed?.(address, username);
      throw authError('bad credentials', 4);
    }
    this.admitSession(client, username);
    this.identities.set(client, username);
    this.guards.get(client.conn)?.authenticate();
  }

  /**
   * A CONNECT whose identity has a live session takes that session over (MQTT-3.1.4-2): once, a
   * device reconnecting over its own half-open connection; again and again, two clients with one
   * identity (a clone) knocking each other off. Past the limit the identity's CONNECTs are refused
   * with "server unavailable" for a growing hold-off, and the clone alarm is raised.
   */
  private admitSession(client: Client, deviceId: string): void {
    const live = (this.aedes as unknown as { clients: Record<string, Client | undefined> } | null)?.clients[deviceId];
    const verdict = this.takeovers.connect(deviceId, live !== undefined && live !== client);
    if (verdict.admit) {
      if (verdict.takeover) this.o.log.info('device session taken over by a new connection', { deviceId });
      return;
    }
    const seconds = Math.ceil(verdict.retryAfterMs / 1_000);
    if (verdict.storm) {
      const reason = `its sessions took each other over ${verdict.takeovers} times within ${this.takeoverWindowSeconds} s on the embedded broker; its CONNECTs are refused for ${seconds} s`;
      this.hooks.cloneSuspected?.(deviceId, reason);
    }
    throw authError(`this device's sessions keep taking each other over (a cloned identity?): CONNECT refused for ${seconds} s`, 3);
  }

  private get takeoverWindowSeconds(): number {
    return (this.o.takeovers ?? DEFAULT_TAKEOVER_LIMITS).windowMs / 1_000;
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
      // released on the next tick, not inside deliver: aedes runs what follows a delivery (the
      // publisher's next packets, the next queued message) inside this callback, and at 10,000
      // devices (bench:fanout) that chain nested until the stack overflowed and the process died.
      // The handler itself runs on; the broker does not wait for it.
      process.nextTick(cb);
    };
    const aedes = (): Aedes => {
      if (!this.aedes) throw new Error('embedded broker not started');
      return this.aedes;
    };
    // a fleet-wide assignment publishes thousands of desired states at once: at most this many are
    // in aedes at a time (its emitter queues what exceeds 100), so device traffic keeps its turn
    const inFlight = new Limiter(IN_PROCESS_PUBLISHES_IN_FLIGHT);
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
      publish: async (topic, payload, opts = {}) => {
        const packet = {
          cmd: 'publish' as const,
          topic,
          // a Buffer (a desired state's envelope, written on a signing thread) goes to aedes as it is
          payload: typeof payload === 'string' ? Buffer.from(payload) : payload,
          qos: opts.qos ?? 1,
          retain: opts.retain ?? false,
          dup: false,
        };
        await inFlight.run(() => new Promise<void>((resolve, reject) => aedes().publish(packet, (err) => (err ? reject(err) : resolve()))));
      },
      stop: async () => {
        const a = this.aedes;
        if (a) for (const f of filters) await new Promise<void>((resolve) => a.unsubscribe(f, deliver, () => resolve()));
      },
    };
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.aedes ? this.aedes.close(() => resolve()) : resolve()));
    await Promise.all(this.servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
    this.aedes = null;
    this.servers = [];
  }
}
