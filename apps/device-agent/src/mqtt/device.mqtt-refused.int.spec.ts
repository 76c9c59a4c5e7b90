import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { testSession } from '../test-support/mqtt.session.js';
import { refusedBackoffMs } from './device.mqtt-session.js';

/**
 * A broker that answers each CONNECT with a CONNACK: "not authorized" (5) for the first `refuse`
 * connections, accepted (0) after that. It records when each CONNECT came.
 */
async function refusingBroker(refuse: number): Promise<{ server: Server; url: string; attempts: number[]; close: () => Promise<void> }> {
  const attempts: number[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.once('data', () => {
      attempts.push(Date.now());
      socket.write(Buffer.from([0x20, 0x02, 0x00, attempts.length <= refuse ? 0x05 : 0x00]));
      if (attempts.length <= refuse) socket.end();
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const close = async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return { server, url: `mqtt://127.0.0.1:${port}`, attempts, close };
}

let stop: (() => Promise<void>) | null = null;
afterEach(async () => {
  await stop?.();
  stop = null;
});

describe('a broker that refuses the device', () => {
  it('the backoff doubles from the base to the cap, jittered within half of it', () => {
    expect([0, 1, 2, 3, 10].map((n) => refusedBackoffMs(n, 100, 1_000, () => 1))).toEqual([100, 200, 400, 800, 1_000]);
    expect([0, 1, 2, 3, 10].map((n) => refusedBackoffMs(n, 100, 1_000, () => 0))).toEqual([50, 100, 200, 400, 500]);
  });

  it('retries a refused CONNECT with a growing wait and connects once the broker accepts it (a re-enabled device)', async () => {
    const broker = await refusingBroker(4);
    const session = testSession(broker.url, { reconnectBaseMs: 100, refusedBackoffCapMs: 400 });
    stop = async () => {
      await broker.close();
      await session.stop();
    };
    session.start();
    const deadline = Date.now() + 15_000;
    while (broker.attempts.length < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(broker.attempts.length, 'CONNECTs seen').toBeGreaterThanOrEqual(5);
    // each wait is at least half of its backoff step (100, 200, 400, 400 ms): it backs off, never hammers
    const gaps = broker.attempts.slice(1).map((t, i) => t - (broker.attempts[i] ?? t));
    [50, 100, 200, 200].forEach((least, i) => expect(gaps[i], `wait after refusal ${i + 1}`).toBeGreaterThanOrEqual(least - 5));
    // accepted (CONNACK 0) on the next attempt
    while (!session.connected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(session.connected).toBe(true);
  });
});
