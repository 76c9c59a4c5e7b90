import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TcpProxy } from './tcp-proxy.js';

// The target: an echo server, plus `download` answered with BIG bytes then end.
const BIG = 256 * 1024;
let target: Server;
let targetPort = 0;
let proxy: TcpProxy;

beforeAll(async () => {
  target = createServer((s) => {
    s.on('error', () => undefined);
    s.on('data', (d) => {
      if (d.toString() === 'download') s.end(Buffer.alloc(BIG, 7));
      else s.write(d);
    });
  });
  await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
  const a = target.address();
  targetPort = typeof a === 'object' && a ? a.port : 0;
});

afterAll(async () => {
  await new Promise<void>((r) => target.close(() => r()));
});

afterEach(async () => {
  await proxy.close();
});

async function open(): Promise<Socket> {
  const s = connect(proxy.port, proxy.host);
  s.on('error', () => undefined);
  await once(s, 'connect');
  return s;
}

/** Sends `msg` and resolves with the first answer and how long it took, or null when none came in `ms`. */
async function roundTrip(s: Socket, msg: string, ms = 1_000): Promise<{ answer: string; tookMs: number } | null> {
  const t0 = Date.now();
  s.write(msg);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(null), ms);
    s.once('data', (d) => {
      clearTimeout(timer);
      resolve({ answer: d.toString(), tookMs: Date.now() - t0 });
    });
  });
}

/** Reads until the connection closes; resolves with the byte count. */
async function drain(s: Socket): Promise<number> {
  let n = 0;
  s.on('data', (d: Buffer) => (n += d.length));
  await once(s, 'close');
  return n;
}

describe('TcpProxy', () => {
  it('forwards both ways on the port it chose', async () => {
    proxy = await TcpProxy.start('127.0.0.1', targetPort);
    expect(proxy.port).toBeGreaterThan(0);
    expect(proxy.address).toEqual({ host: '127.0.0.1', port: proxy.port });
    const s = await open();
    expect((await roundTrip(s, 'ping'))?.answer).toBe('ping');
    s.destroy();
    expect(proxy.stats.forwarded).toBe(1);
  });

  it("cut('refuse') severs open connections and refuses new ones until restore(), on the same port", async () => {
    proxy = await TcpProxy.start('127.0.0.1', targetPort);
    const port = proxy.port;
    const s = await open();
    const closed = once(s, 'close');
    await proxy.cut('refuse');
    await closed;
    const refused = connect(port, '127.0.0.1');
    const [err] = (await once(refused, 'error')) as [NodeJS.ErrnoException];
    expect(err.code).toBe('ECONNREFUSED');
    await proxy.restore();
    expect(proxy.port).toBe(port);
    expect((await roundTrip(await open(), 'back'))?.answer).toBe('back');
  });

  it("cut('blackhole') accepts new connections but never answers; restore() drops them and forwards again", async () => {
    proxy = await TcpProxy.start('127.0.0.1', targetPort);
    await proxy.cut('blackhole');
    const s = await open();
    expect(await roundTrip(s, 'anyone?', 300)).toBeNull();
    expect(proxy.stats.blackholed).toBe(1);
    const closed = once(s, 'close');
    await proxy.restore();
    await closed;
    expect((await roundTrip(await open(), 'hello'))?.answer).toBe('hello');
  });

  it('setDelay(ms) holds each chunk that long each way, open connections included, until restore()', async () => {
    proxy = await TcpProxy.start('127.0.0.1', targetPort);
    const s = await open();
    expect((await roundTrip(s, 'fast'))?.tookMs).toBeLessThan(100);
    proxy.setDelay(150);
    const slow = await roundTrip(s, 'slow');
    expect(slow?.answer).toBe('slow');
    expect(slow?.tookMs).toBeGreaterThanOrEqual(290); // 150 ms there, 150 ms back
    await proxy.restore();
    expect((await roundTrip(s, 'fast again'))?.tookMs).toBeLessThan(100);
  });

  it('keeps the order of delayed chunks', async () => {
    proxy = await TcpProxy.start('127.0.0.1', targetPort);
    proxy.setDelay(50);
    const s = await open();
    let got = '';
    s.on('data', (d) => (got += d.toString()));
    for (const part of ['a', 'b', 'c', 'd']) {
      s.write(part);
      await new Promise((r) => setTimeout(r, 5));
    }
    await new Promise((r) => setTimeout(r, 400));
    expect(got).toBe('abcd');
  });

  it('cutAfter(bytes) severs a download after exactly that many bytes; without it the whole answer arrives', async () => {
    proxy = await TcpProxy.start('127.0.0.1', targetPort);
    const whole = await open();
    whole.write('download');
    expect(await drain(whole)).toBe(BIG);

    proxy.cutAfter(10_000);
    const cut = await open();
    cut.write('download');
    expect(await drain(cut)).toBe(10_000);
    expect(proxy.stats.cutMidStream).toBe(1);
  });

  it('throttle(rate) carries a download no faster than the rate, whole and in order; restore() lifts it', async () => {
    proxy = await TcpProxy.start('127.0.0.1', targetPort);
    proxy.throttle(512 * 1024); // BIG takes at least 500 ms at this rate
    const thin = await open();
    const t0 = Date.now();
    const chunks: Buffer[] = [];
    thin.on('data', (d: Buffer) => chunks.push(d));
    thin.write('download');
    await once(thin, 'close');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(450);
    expect(Buffer.concat(chunks).equals(Buffer.alloc(BIG, 7))).toBe(true);
    expect(() => proxy.throttle(0)).toThrow(/not a rate/);

    await proxy.restore();
    const fast = await open();
    fast.write('download');
    expect(await drain(fast)).toBe(BIG);
  });

  it("cut('half-open') keeps open connections open but silent both ways, black-holes new ones; restore() ends them and forwards again", async () => {
    proxy = await TcpProxy.start('127.0.0.1', targetPort);
    const s = await open();
    let closed = false;
    s.on('close', () => (closed = true));
    expect((await roundTrip(s, 'before'))?.answer).toBe('before');
    await proxy.cut('half-open');
    expect(await roundTrip(s, 'lost', 300)).toBeNull();
    expect(closed).toBe(false); // no FIN, no RST: only the client's own timeout can tell
    expect(proxy.stats.droppedHalfOpen).toBe('lost'.length);
    const late = await open(); // accepted, never answered
    expect(await roundTrip(late, 'hello?', 300)).toBeNull();
    expect(proxy.stats.blackholed).toBe(1);

    await proxy.restore();
    await once(s, 'close');
    const again = await open();
    expect((await roundTrip(again, 'after'))?.answer).toBe('after');
  });
});
