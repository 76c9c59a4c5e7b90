import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.js';

function capture(level: Parameters<typeof createLogger>[0]) {
  const lines: string[] = [];
  const logger = createLogger(level, (l) => lines.push(l));
  return { lines, logger, parsed: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('createLogger', () => {
  it('writes one JSON line per event with level, msg and fields', () => {
    const { lines, logger, parsed } = capture('info');
    logger.child({ deviceId: 'd1' }).info('phase', { phase: 'running' });
    expect(lines).toHaveLength(1);
    expect(lines[0]?.endsWith('\n')).toBe(true);
    expect(parsed()[0]).toMatchObject({ level: 'info', msg: 'phase', deviceId: 'd1', phase: 'running' });
  });

  it('drops events below the configured level', () => {
    const { lines, logger } = capture('warn');
    logger.debug('x');
    logger.info('x');
    logger.warn('y');
    logger.error('z');
    expect(lines).toHaveLength(2);
  });

  it('redacts secret-looking fields and serialises errors', () => {
    const { logger, parsed } = capture('debug');
    logger.error('oops', { deviceSecret: 'hunter2', password: 'p', error: new Error('bad'), n: 1n });
    const line = parsed()[0];
    expect(line).toMatchObject({ deviceSecret: '[redacted]', password: '[redacted]', error: { message: 'bad' }, n: '1' });
    expect(JSON.stringify(line)).not.toContain('hunter2');
  });
});
