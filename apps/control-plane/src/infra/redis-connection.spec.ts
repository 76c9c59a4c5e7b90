import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { createRootPino, Logger } from './logger.js';
import { RedisConnectionLog } from './redis-connection.js';

function capture(): { lines: Record<string, unknown>[]; log: Logger } {
  const lines: Record<string, unknown>[] = [];
  const root = createRootPino('debug', { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  return { lines, log: new Logger('redis', 'debug', root) };
}

const refused = (): Error => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' });

describe('RedisConnectionLog', () => {
  it('row 20: makes an outage seen by several clients one line when Redis goes and one when the first client has it back', () => {
    const { lines, log } = capture();
    const redisLog = new RedisConnectionLog(log);
    const [a, b, worker] = [new EventEmitter(), new EventEmitter(), new EventEmitter()];
    redisLog.watch('queues', a);
    redisLog.watch('probe', b);
    redisLog.watchEmitter('desired-state worker', worker);
    // every reconnect attempt of every client is an 'error' (ioredis); BullMQ forwards its own
    for (let i = 0; i < 60; i++) {
      worker.emit('error', refused());
      a.emit('error', refused());
      b.emit('error', refused());
    }
    expect(lines.map((l) => l.msg)).toEqual(['redis unreachable']);
    a.emit('ready');
    expect(lines.map((l) => l.msg)).toEqual(['redis unreachable', 'redis reachable again']);
    b.emit('ready');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ level: 'warn', component: 'redis', client: 'queues', error: 'connect ECONNREFUSED 127.0.0.1:6379' });
    expect(lines[1]).toMatchObject({ level: 'info', client: 'queues' });
  });

  it('row 20: a client still on its reconnect backoff after Redis is back is no new outage, and the next outage is one line although it has not returned', () => {
    const { lines, log } = capture();
    const redisLog = new RedisConnectionLog(log);
    const [a, straggler] = [new EventEmitter(), new EventEmitter()];
    redisLog.watch('queues', a);
    redisLog.watch('rollout-steps worker', straggler);
    a.emit('error', refused());
    straggler.emit('error', refused());
    a.emit('ready');
    // the straggler's last attempt before its backoff brings it back
    straggler.emit('error', refused());
    expect(lines.map((l) => l.msg)).toEqual(['redis unreachable', 'redis reachable again']);
    // Redis goes again before the straggler came back (CI, stop 17: no line for this outage)
    a.emit('error', refused());
    straggler.emit('error', refused());
    expect(lines.map((l) => l.msg)).toEqual(['redis unreachable', 'redis reachable again', 'redis unreachable']);
  });

  it('row 20: holds a flapping Redis to a few lines a minute', () => {
    const { lines, log } = capture();
    const redisLog = new RedisConnectionLog(log);
    const c = new EventEmitter();
    redisLog.watch('queues', c);
    for (let i = 0; i < 50; i++) {
      c.emit('error', refused());
      c.emit('ready');
    }
    expect(lines.length).toBeLessThanOrEqual(4);
  });

  it('logs what a worker says that is not about the connection', () => {
    const { lines, log } = capture();
    const worker = new EventEmitter();
    new RedisConnectionLog(log).watchEmitter('rollout-steps worker', worker);
    worker.emit('error', new Error('Missing lock for job 42. moveToFinished'));
    expect(lines).toMatchObject([{ msg: 'rollout-steps worker error', error: 'Missing lock for job 42. moveToFinished', level: 'warn' }]);
  });
});
