import { createServer, type Server, type Socket } from 'node:net';

/** One PUBLISH the broker received (QoS 1 or 2): its topic, packet id, DUP flag and arrival time. */
export interface ReceivedPublish {
  topic: string;
  packetId: number;
  dup: boolean;
  at: number;
}

export interface WithholdingBrokerOptions {
  /** The first this many CONNECTs get no CONNACK (the TCP connection stays open). */
  silentConnects?: number;
  /** The first PUBLISH on each topic this returns true for gets no PUBACK (later ones do). */
  withholdPuback?: (topic: string) => boolean;
}

/**
 * RELIABILITY row 22: an MQTT 3.1.1 broker of a few lines, spoken by hand so that it can withhold
 * exactly the answers a test names: the CONNACK of the first `silentConnects` CONNECTs, and the
 * PUBACK of the first PUBLISH on each topic `withholdPuback` picks. It answers SUBSCRIBE (granting
 * QoS 1) and PINGREQ, routes nothing, and records every CONNECT and PUBLISH.
 */
export class WithholdingBroker {
  /** When each CONNECT arrived (Date.now()). */
  readonly connects: number[] = [];
  readonly published: ReceivedPublish[] = [];
  private readonly withheld = new Set<string>();
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    private readonly o: WithholdingBrokerOptions,
    readonly port = 0,
  ) {}

  static async start(o: WithholdingBrokerOptions = {}): Promise<WithholdingBroker> {
    let broker: WithholdingBroker | null = null;
    const server = createServer((socket) => broker?.accept(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    broker = new WithholdingBroker(server, o, (server.address() as { port: number }).port);
    return broker;
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined);
    let buf = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      for (;;) {
        // fixed header: type and flags, then the remaining length (1–4 bytes, 7 bits each)
        let len = 0;
        let mul = 1;
        let i = 1;
        for (; i < buf.length && i <= 4; i++) {
          const b = buf[i] ?? 0;
          len += (b & 0x7f) * mul;
          mul *= 128;
          if ((b & 0x80) === 0) break;
        }
        if (i >= buf.length || buf.length < i + 1 + len) return;
        const first = buf[0] ?? 0;
        const body = buf.subarray(i + 1, i + 1 + len);
        buf = buf.subarray(i + 1 + len);
        this.answer(socket, first, body);
      }
    });
  }

  private answer(socket: Socket, first: number, body: Buffer): void {
    switch (first >> 4) {
      case 1: // CONNECT
        this.connects.push(Date.now());
        if (this.connects.length > (this.o.silentConnects ?? 0)) socket.write(Buffer.from([0x20, 0x02, 0x00, 0x00]));
        return;
      case 3: {
        // PUBLISH: topic, then the packet id when QoS > 0
        const topicLen = body.readUInt16BE(0);
        const topic = body.subarray(2, 2 + topicLen).toString('utf8');
        if (((first >> 1) & 3) === 0) return;
        const packetId = body.readUInt16BE(2 + topicLen);
        this.published.push({ topic, packetId, dup: (first & 0x08) !== 0, at: Date.now() });
        if (this.o.withholdPuback?.(topic) && !this.withheld.has(topic)) {
          this.withheld.add(topic);
          return;
        }
        socket.write(Buffer.from([0x40, 0x02, packetId >> 8, packetId & 0xff]));
        return;
      }
      case 8: {
        // SUBSCRIBE: grant QoS 1 to each filter
        const packetId = body.readUInt16BE(0);
        let n = 0;
        for (let p = 2; p < body.length; n++) p += 2 + body.readUInt16BE(p) + 1;
        socket.write(Buffer.from([0x90, 2 + n, packetId >> 8, packetId & 0xff, ...Array.from({ length: n }, () => 1)]));
        return;
      }
      case 12: // PINGREQ
        socket.write(Buffer.from([0xd0, 0x00]));
        return;
      default:
        return;
    }
  }
}
