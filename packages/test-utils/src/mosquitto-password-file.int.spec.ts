import { randomUUID } from 'node:crypto';
import { deviceBrokerAcls, mqttContract, TOPIC_KINDS, topicOf, topics } from '@edge-fleet/shared';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deviceAclPatterns, Mosquitto } from './mosquitto.js';

// The broker a large simulated fleet uses: per-device identity from a password file, topics by pattern.
const a = { username: randomUUID(), password: 'secret-a-0123456789' };
const b = { username: randomUUID(), password: 'secret-b-0123456789' };
const observer = { username: 'observer', password: 'secret-observer-0123' };
let broker: Mosquitto;

beforeAll(async () => {
  broker = await Mosquitto.withPasswordFile([a, b], observer);
  await broker.start();
});

afterAll(async () => {
  await broker.close();
});

const connect = (creds: { username?: string; password?: string }) =>
  mqtt.connectAsync(broker.url, { ...creds, clientId: creds.username ?? randomUUID(), reconnectPeriod: 0, connectTimeout: 5_000 });

describe('Mosquitto with a password file', () => {
  it('gives each username the topics deviceBrokerAcls gives that device, no more', () => {
    const id = randomUUID();
    const patterns = deviceAclPatterns().map((p) => p.replaceAll('%u', id));
    for (const kind of TOPIC_KINDS) {
      const topic = topicOf(kind, id);
      const sends = mqttContract[kind].direction === 'device->cloud';
      expect(patterns).toContain(`pattern ${sends ? 'write' : 'read'} ${topic}`);
      expect(deviceBrokerAcls(id).some((x) => x.topic === topic && x.acltype === (sends ? 'publishClientSend' : 'subscribeLiteral'))).toBe(
        true,
      );
    }
    expect(patterns).toHaveLength(TOPIC_KINDS.length);
  });

  it('refuses an anonymous client and a wrong password, and lets a listed device in', async () => {
    await expect(connect({})).rejects.toThrow(/Not authorized|Bad username or password/);
    await expect(connect({ username: a.username, password: 'wrong-password-000' })).rejects.toThrow(
      /Not authorized|Bad username or password/,
    );
    const ok = await connect(a);
    expect(ok.connected).toBe(true);
    await ok.endAsync();
  });

  it('takes a device added to the password file while it runs, and refuses one taken out', async () => {
    const c = { username: randomUUID(), password: 'secret-c-0123456789' };
    await expect(connect(c)).rejects.toThrow(/Not authorized|Bad username or password/);
    await broker.setPasswordFile([b, c], observer);
    const ok = await connect(c);
    await ok.endAsync();
    await expect(connect(a)).rejects.toThrow(/Not authorized|Bad username or password/);
    await broker.setPasswordFile([a, b], observer);
  });

  it('delivers a device only its own desired state, and passes on only what it publishes on its own topics', async () => {
    const watch = await connect(observer);
    const dev = await connect(a);
    const seenByWatch: string[] = [];
    const seenByDev: string[] = [];
    watch.on('message', (t) => seenByWatch.push(t));
    dev.on('message', (t) => seenByDev.push(t));
    try {
      await watch.subscribeAsync(`${topics.telemetry('+')}`, { qos: 1 });
      await dev.subscribeAsync([topics.desired(a.username), topics.desired(b.username)], { qos: 1 });
      await dev.publishAsync(topics.telemetry(b.username), '{}', { qos: 1 });
      await dev.publishAsync(topics.telemetry(a.username), '{}', { qos: 1 });
      await watch.publishAsync(topics.desired(b.username), '{}', { qos: 1 });
      await watch.publishAsync(topics.desired(a.username), '{}', { qos: 1 });
      // each side's last message is its positive control: once it arrived, the one before would have
      const until = Date.now() + 5_000;
      while ((seenByWatch.length < 1 || seenByDev.length < 1) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      expect(seenByWatch).toEqual([topics.telemetry(a.username)]);
      expect(seenByDev).toEqual([topics.desired(a.username)]);
    } finally {
      await dev.endAsync();
      await watch.endAsync();
    }
  });
});
