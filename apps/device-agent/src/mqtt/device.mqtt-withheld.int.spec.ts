import { randomUUID } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { topics } from '@edge-fleet/shared';
import { afterEach, describe, expect, it } from 'vitest';
import { testSession } from '../test-support/mqtt.session.js';
import { idleWindow } from '../test-support/telemetry.windows.js';

/**
 * RELIABILITY row 22: a broker that accepts the TCP connection and then withholds its answers. A
 * broker of a few lines, speaking MQTT 3.1.1 by hand so that it can withhold exactly one answer:
 * CONNACK to the first `silentConnects` CONNECTs, and PUBACK to the first PUBLISH on each topic in
 * `withholdPubackOn`. It answers SUBSCRIBE and PINGREQ, and records every CONNECT and PUBLISH.
 */
interface Published {
  topic: string;
  packetId: number;
  dup: boolean;
  at: number;
}

interface FakeBroker {
  url: string;
  connects: number[];
  published: Published[];
  close(): Promise<void>;
}

async function withholdingBroker(o: { silentConnects?: number; withholdPubackOn?: string[] }): Promise<FakeBroker> {
  const connects: number[] = [];
  const published: Published[] = [];
  const withheld = new Set<string>();
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
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
        answer(socket, first, body);
      }
    });
  });
  function answer(socket: Socket, first: number, body: Buffer): void {
    switch (first >> 4) {
      case 1: // CONNECT
        connects.push(Date.now());
        if (connects.length > (o.silentConnects ?? 0)) socket.write(Buffer.from([0x20, 0x02, 0x00, 0x00]));
        return;
      case 3: {
        // PUBLISH: topic, then the packet id when QoS > 0
        const topicLen = body.readUInt16BE(0);
        const topic = body.subarray(2, 2 + topicLen).toString('utf8');
        if (((first >> 1) & 3) === 0) return;
        const packetId = body.readUInt16BE(2 + topicLen);
        published.push({ topic, packetId, dup: (first & 0x08) !== 0, at: Date.now() });
        if (o.withholdPubackOn?.includes(topic) && !withheld.has(topic)) {
          withheld.add(topic);
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
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `mqtt://127.0.0.1:${port}`,
    connects,
    published,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

let cleanup: (() => Promise<void>) | null = null;
afterEach(async () => {
  await cleanup?.();
  cleanup = null;
});

async function until(what: string, ok: () => boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('a broker that withholds its answers', () => {
  it('row 22: never answered CONNECTs time out and the next ones back off, doubling up to the cap; it connects once CONNACKs come', async () => {
    const broker = await withholdingBroker({ silentConnects: 5 });
    const s = testSession(broker.url, { reconnectBaseMs: 100, reconnectCapMs: 800, connectTimeoutMs: 300 });
    cleanup = async () => {
      await s.stop();
      await broker.close();
    };
    s.start();
    await until('six CONNECTs', () => broker.connects.length >= 6);
    await until('connected', () => s.connected);
    const gaps = broker.connects.slice(1, 6).map((t, i) => t - (broker.connects[i] ?? t));
    // each gap is the CONNACK timeout (300 ms) plus at least half of the backoff step: the first
    // wait is the agent's ordinary 100–300 ms, then 100–200, 200–400, 400–800 and, capped, 400–800 ms
    [400, 400, 500, 700, 700].forEach((least, i) => expect(gaps[i], `gap before CONNECT ${i + 2}`).toBeGreaterThanOrEqual(least - 10));
    expect(broker.connects).toHaveLength(6);
  });

  it('row 22: a withheld PUBACK drops the connection; the publish goes again with its packet id and resolves on that PUBACK, while other publishes go on', async () => {
    const deviceId = randomUUID();
    const telemetryTopic = topics.telemetry(deviceId);
    const broker = await withholdingBroker({ withholdPubackOn: [telemetryTopic] });
    const s = testSession(broker.url, { deviceId, reconnectBaseMs: 100, pubackTimeoutMs: 600 });
    cleanup = async () => {
      await s.stop();
      await broker.close();
    };
    s.start();
    await until('connected', () => s.connected);
    let acknowledged = false;
    const sent = s.publish('telemetry', idleWindow(deviceId, randomUUID(), 0, new Date().toISOString())).then(() => {
      acknowledged = true;
    });
    await until('the telemetry publish', () => broker.published.some((p) => p.topic === telemetryTopic));
    // other work is not held up behind it: a report is published and acknowledged on the same connection
    await s.publish('status', { state: 'online', bootId: randomUUID(), at: new Date().toISOString() });
    expect(acknowledged).toBe(false);
    expect(broker.connects).toHaveLength(1);

    await sent;
    const copies = broker.published.filter((p) => p.topic === telemetryTopic);
    expect(copies).toHaveLength(2);
    expect(copies[1]?.packetId).toBe(copies[0]?.packetId);
    // (MQTT.js 5 resends it without the DUP flag MQTT 3.1.1 asks for; QoS 1 receivers may not rely on it anyway)
    // sent again on a second connection, after the PUBACK timeout
    expect(broker.connects).toHaveLength(2);
    expect((copies[1]?.at ?? 0) - (copies[0]?.at ?? 0)).toBeGreaterThanOrEqual(600 - 10);
  });
});
