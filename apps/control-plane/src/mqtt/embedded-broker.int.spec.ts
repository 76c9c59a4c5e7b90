import { randomUUID } from 'node:crypto';
import mqtt from 'mqtt';
import { describe, expect, it } from 'vitest';
import { topics } from '@edge-fleet/shared';
import { Logger } from '../infra/logger.js';
import { freePort, waitFor } from '../test-support/harness.js';
import { EmbeddedBroker, Limiter } from './embedded-broker.js';

const log = new Logger('test', 'error');

describe('embedded broker, in-process side', () => {
  it('delivers every message of a fleet-wide burst of 20,000 publishes made at once', async () => {
    const broker = new EmbeddedBroker({ host: '127.0.0.1', port: await freePort(), log });
    await broker.start({ verifyDevice: () => Promise.resolve(false) });
    try {
      const bus = broker.inProcessBus(['burst/#'], log);
      const seen = new Set<string>();
      bus.onMessage((topic) => {
        seen.add(topic);
        return Promise.resolve();
      });
      await bus.start();
      const n = 20_000;
      await Promise.all(Array.from({ length: n }, (_, i) => bus.publish(`burst/${i}`, '{}', { retain: false })));
      expect(seen.size).toBe(n);
      await bus.stop();
    } finally {
      await broker.stop();
    }
  });

  it('hands a subscribing device its own retained message from the index, and nothing for a cleared topic', async () => {
    const port = await freePort();
    const broker = new EmbeddedBroker({ host: '127.0.0.1', port, log });
    await broker.start({ verifyDevice: () => Promise.resolve(true) });
    const bus = broker.inProcessBus([], log);
    const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
    const retainedOf = async (id: string): Promise<string[]> => {
      const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
        clientId: id,
        username: id,
        password: 'x'.repeat(43),
        protocolVersion: 4,
        reconnectPeriod: 0,
      });
      const got: string[] = [];
      let marker = false;
      client.on('message', (topic, payload, packet) => {
        if (topic === topics.commands(id)) marker = true;
        else if (packet.retain) got.push(`${topic} ${payload.toString()}`);
      });
      // one SUBSCRIBE, desired state first: the broker sends the retained messages of one SUBSCRIBE
      // in one stream, in the order of its topics, so once the marker retained on the second topic
      // is here, whatever the first topic had retained has come before it
      await client.subscribeAsync({ [topics.desired(id)]: { qos: 1 }, [topics.commands(id)]: { qos: 1 } });
      await waitFor(() => Promise.resolve(marker), 10_000, `${id}'s retained marker`);
      await client.endAsync();
      return got;
    };
    try {
      for (const id of [a, b, c]) await bus.publish(topics.commands(id), '{"marker":true}', { retain: true });
      for (let i = 0; i < 2_000; i++) await bus.publish(topics.desired(randomUUID()), '{"other":true}', { retain: true });
      await bus.publish(topics.desired(a), '{"v":1}', { retain: true });
      await bus.publish(topics.desired(a), '{"v":2}', { retain: true });
      await bus.publish(topics.desired(b), '{"v":1}', { retain: true });
      await bus.publish(topics.desired(b), '', { retain: true });
      expect(await retainedOf(a)).toEqual([`${topics.desired(a)} {"v":2}`]);
      expect(await retainedOf(b)).toEqual([]);
      expect(await retainedOf(c)).toEqual([]);
    } finally {
      await broker.stop();
    }
  });

  it('runs at most the limit of tasks at once, the rest in order as slots free up', async () => {
    const limiter = new Limiter(3);
    let running = 0;
    let peak = 0;
    const started: number[] = [];
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        limiter.run(async () => {
          started.push(i);
          running++;
          peak = Math.max(peak, running);
          await new Promise((r) => setTimeout(r, 2));
          running--;
        }),
      ),
    );
    expect(peak).toBe(3);
    expect(started).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });
});
