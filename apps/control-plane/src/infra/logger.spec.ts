import { describe, expect, it } from 'vitest';
import { createRootPino, LogThrottle, Logger, RateLimitedLog } from './logger.js';

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
