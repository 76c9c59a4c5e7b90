import { describe, expect, it } from 'vitest';
import { createRootPino, LogThrottle, Logger, RateLimitedLog, requestLogging } from './logger.js';

describe('LogThrottle', () => {
  it('writes at most perKey lines of one key per window, then reports how many it held back', () => {
    const t = new LogThrottle(2, 100, 1_000);
    expect([0, 1, 2, 3, 4].map((i) => t.admit('dev-a', i).write)).toEqual([true, true, false, false, false]);
    // another device is not silenced by the first one's flood
    expect(t.admit('dev-b', 5)).toEqual({ write: true, suppressed: 0 });
    // the next window's first line of dev-a says three were not written
    expect(t.admit('dev-a', 1_000)).toEqual({ write: true, suppressed: 3 });
    expect(t.admit('dev-a', 1_001)).toEqual({ write: true, suppressed: 0 });
  });

  it('caps the lines of all keys together, so ten thousand devices cannot flood the log either', () => {
    const t = new LogThrottle(5, 10, 1_000);
    const written = Array.from({ length: 1_000 }, (_, i) => t.admit(`dev-${i}`, 10).write).filter(Boolean);
    expect(written).toHaveLength(10);
  });

  it('keeps its key table bounded', () => {
    const t = new LogThrottle(1, 1_000_000, 60_000, 100);
    for (let i = 0; i < 10_000; i++) t.admit(`dev-${i}`, 0);
    expect((t as unknown as { keys: Map<string, unknown> }).keys.size).toBeLessThanOrEqual(100);
  });
});

describe('RateLimitedLog', () => {
  it('writes a device-caused line with the count of those it held back', () => {
    const lines: Record<string, unknown>[] = [];
    const log = new Logger(
      't',
      'debug',
      createRootPino('debug', { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) }),
    );
    const limited = new RateLimitedLog(log, new LogThrottle(1, 100, 60_000));
    for (let i = 0; i < 50; i++) limited.warn('dev-a', 'telemetry rejected', { deviceId: 'dev-a' });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ msg: 'telemetry rejected', deviceId: 'dev-a', level: 'warn' });
  });
});

describe('Logger', () => {
  it('censors secret-named values at the top level and one object down, and leaves other fields as they are', () => {
    const lines: Record<string, unknown>[] = [];
    const log = new Logger(
      't',
      'debug',
      createRootPino('debug', { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) }),
    );
    const fields = { authorization: 'Bearer x', nested: { password: 'p', keep: 1 }, list: ['token'], deviceId: 'd' };
    log.info('with secrets', fields);
    expect(lines[0]).toMatchObject({
      authorization: '[redacted]',
      nested: { password: '[redacted]', keep: 1 },
      list: ['token'],
      deviceId: 'd',
    });
    // the caller's object is not changed
    expect(fields.authorization).toBe('Bearer x');
    expect(fields.nested.password).toBe('p');
  });
});

describe('requestLogging', () => {
  it('runs a change in its request context and a read outside any, even while a change is in flight', async () => {
    const { createServer } = await import('node:http');
    const lines: Record<string, unknown>[] = [];
    const log = new Logger(
      'svc',
      'debug',
      createRootPino('debug', { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) }),
    );
    const middleware = requestLogging(log);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const server = createServer((req, res) =>
      middleware(req, res, () => {
        void (async () => {
          if (req.method === 'POST') await gate;
          await Promise.resolve();
          log.info(`handled ${req.method ?? ''}`);
          res.end('ok');
        })();
      }),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/x`;
    const change = fetch(url, { method: 'POST', headers: { 'x-request-id': 'change-1' } });
    const read = await fetch(url, { headers: { 'x-request-id': 'read-1' } });
    expect(read.headers.get('x-request-id')).toBe('read-1');
    release();
    await (await change).text();
    server.close();
    const handledGet = lines.find((l) => l.msg === 'handled GET');
    const handledPost = lines.find((l) => l.msg === 'handled POST');
    expect(handledGet).toBeDefined();
    expect(handledGet?.reqId).toBeUndefined();
    expect(handledPost).toMatchObject({ reqId: 'change-1', component: 'svc' });
    // each request still has its own request line with its id
    expect(lines.filter((l) => l.msg === 'request completed').map((l) => l.reqId)).toEqual(expect.arrayContaining(['read-1', 'change-1']));
  });
});
