import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { z } from 'zod';
import { AckReader, connectPacket, TelemetryPublisher } from './support/mqtt-packets.js';

/**
 * One process of the ingest load generator (support/raw-load.ts forks several): a raw socket per
 * device, CONNECT written by hand, then telemetry PUBLISHes at its share of the offered rate from
 * pre-serialised templates, PUBACKs counted. Little CPU per message, so the generator is not what
 * limits the measured ingest.
 */
const Init = z.object({
  type: z.literal('init'),
  host: z.string(),
  port: z.number().int(),
  devices: z.array(z.object({ deviceId: z.string(), deviceSecret: z.string() })),
  ratePerSecond: z.number().positive(),
});
const Command = z.union([Init, z.object({ type: z.enum(['go', 'stats', 'stop']) })]);

interface Conn {
  socket: net.Socket;
  acks: AckReader;
  publisher: TelemetryPublisher;
  seq: number;
  lastEndMs: number;
  packetId: number;
}

const conns: Conn[] = [];
let rate = 0;
let sent = 0;
let dropped = 0;
let timer: NodeJS.Timeout | null = null;

const send = (m: object): void => {
  process.send?.(m);
};
const stats = () => {
  const cpu = process.cpuUsage();
  return { sent, dropped, acked: conns.reduce((s, c) => s + c.acks.pubacks, 0), cpuSeconds: (cpu.user + cpu.system) / 1e6 };
};

async function connectAll(init: z.infer<typeof Init>): Promise<void> {
  rate = init.ratePerSecond;
  let refused = 0;
  await Promise.all(
    init.devices.map(
      (d) =>
        new Promise<void>((resolve) => {
          const socket = net.createConnection({ host: init.host, port: init.port });
          socket.setNoDelay(true);
          const conn: Conn = {
            socket,
            acks: new AckReader(),
            publisher: new TelemetryPublisher(d.deviceId, randomUUID()),
            seq: 0,
            lastEndMs: Date.now(),
            packetId: 0,
          };
          const done = (ok: boolean) => {
            if (!ok) refused += 1;
            else conns.push(conn);
            resolve();
          };
          socket.on('data', (chunk: Buffer) => {
            const before = conn.acks.connack;
            conn.acks.push(chunk);
            if (before === null && conn.acks.connack !== null) done(conn.acks.connack === 0);
          });
          socket.on('error', () => undefined);
          socket.on('close', () => {
            if (conn.acks.connack === null) done(false);
          });
          socket.write(connectPacket(d.deviceId, d.deviceSecret));
        }),
    ),
  );
  send({ type: 'ready', connected: conns.length, refused });
}

function go(): void {
  const started = Date.now();
  let next = 0;
  timer = setInterval(() => {
    if (conns.length === 0) return;
    const due = Math.floor(((Date.now() - started) / 1000) * rate) - (sent + dropped);
    const now = Date.now();
    for (const c of conns) c.socket.cork();
    for (let i = 0; i < due; i++) {
      const c = conns[next++ % conns.length];
      if (!c) continue;
      // a socket the broker does not drain is not offered more: counted, not queued without bound
      if (c.socket.writableLength > 1 << 20 || c.socket.destroyed) {
        dropped += 1;
        continue;
      }
      c.packetId = (c.packetId % 65_535) + 1;
      c.socket.write(c.publisher.packet(c.packetId, c.seq++, c.lastEndMs, now));
      c.lastEndMs = now;
      sent += 1;
    }
    for (const c of conns) c.socket.uncork();
  }, 10);
}

process.on('message', (raw: unknown) => {
  const m = Command.parse(raw);
  if (m.type === 'init') void connectAll(m);
  else if (m.type === 'go') go();
  else if (m.type === 'stats') send({ type: 'stats', ...stats() });
  else void stop();
});

/** Stops publishing, gives the PUBACKs on their way up to 5 s to arrive, then closes and reports. */
async function stop(): Promise<void> {
  if (timer) clearInterval(timer);
  for (let waited = 0; waited < 5_000 && stats().acked < sent; waited += 20) await new Promise((r) => setTimeout(r, 20));
  const s = stats();
  for (const c of conns) c.socket.destroy();
  send({ type: 'stopped', ...s });
  setTimeout(() => process.exit(0), 50);
}
