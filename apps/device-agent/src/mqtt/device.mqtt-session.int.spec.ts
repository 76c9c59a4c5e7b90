import { randomUUID } from 'node:crypto';
import { parseMessage, publishArgs, topics, type ParsedMessage } from '@edge-fleet/shared';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../core/clock.js';
import { silentLogger } from '../core/logger.js';
import { BROKER_URL, observerOptions, provisionTestDevice } from '../test-support/mqtt.probe.js';
import { DeviceMqttSession, type InboundMessage } from './device.mqtt-session.js';
import { idleWindow } from '../test-support/telemetry.windows.js';

const deviceId = randomUUID();
const bootId = randomUUID();
const deviceSecret = randomUUID();
const inbound: InboundMessage[] = [];
/** What the device published, as the control plane parses it, with the retain flag it arrived with. */
const upstream: { parsed: ParsedMessage; retain: boolean }[] = [];
let session: DeviceMqttSession;
let cloud: MqttClient;

/** The retained status as a new subscriber gets it (the broker sets `retain` only then). */
async function retainedStatus(): Promise<{ parsed: ParsedMessage; retain: boolean }> {
  const c = await mqtt.connectAsync(BROKER_URL, observerOptions());
  const got = new Promise<{ parsed: ParsedMessage; retain: boolean }>((resolve) =>
    c.once('message', (topic, payload, packet) => resolve({ parsed: parseMessage(topic, payload), retain: packet.retain })),
  );
  await c.subscribeAsync(topics.status(deviceId), { qos: 1 });
  const status = await got;
  await c.endAsync();
  return status;
}

async function until<T>(what: string, find: () => T | undefined): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const hit = find();
    if (hit !== undefined) return hit;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

beforeAll(async () => {
  await provisionTestDevice(deviceId, deviceSecret);
  cloud = await mqtt.connectAsync(BROKER_URL, observerOptions());
  cloud.on('message', (topic, payload, packet) => upstream.push({ parsed: parseMessage(topic, payload), retain: packet.retain }));
  await cloud.subscribeAsync([topics.status(deviceId), topics.telemetry(deviceId), topics.reported(deviceId)], { qos: 1 });
  await new Promise<void>((connected) => {
    session = new DeviceMqttSession({
      url: BROKER_URL,
      deviceId,
      deviceSecret,
      bootId,
      clock: systemClock,
      logger: silentLogger,
      onMessage: (m) => inbound.push(m),
      onConnected: () => Promise.resolve(connected()),
    });
    session.start();
  });
});

afterAll(async () => {
  await session.stop();
  await cloud.publishAsync(topics.status(deviceId), '', { qos: 1, retain: true });
  await cloud.endAsync();
});

describe('the agent’s MQTT session speaks the shared contract', () => {
  it('runs on a broker with dynamic security: an unprovisioned identity, a wrong secret and another device’s topics are refused', async () => {
    const stranger = randomUUID();
    await expect(
      mqtt.connectAsync(BROKER_URL, { clientId: stranger, username: stranger, password: 'x', reconnectPeriod: 0 }),
    ).rejects.toThrow(/Not authorized|Bad username or password/i);
    await expect(
      mqtt.connectAsync(BROKER_URL, { clientId: deviceId, username: deviceId, password: 'wrong', reconnectPeriod: 0 }),
    ).rejects.toThrow(/Not authorized|Bad username or password/i);
    // a device's role grants its own topics only: a subscription to another device's desired state is refused
    const otherId = randomUUID();
    await provisionTestDevice(otherId, deviceSecret);
    const other = await mqtt.connectAsync(BROKER_URL, { clientId: otherId, username: otherId, password: deviceSecret, reconnectPeriod: 0 });
    try {
      // mqtt.js turns the broker's SUBACK failure code (0x80) into a rejection
      await expect(other.subscribeAsync(topics.desired(deviceId), { qos: 1 })).rejects.toThrow(/Subscribe error/);
    } finally {
      await other.endAsync();
    }
  });

  it('announces itself online, retained, in the contract’s status shape', async () => {
    await until('online', () => upstream.find((u) => u.parsed.kind === 'status'));
    const online = await retainedStatus();
    expect(online.parsed).toMatchObject({ ok: true, deviceId, payload: { state: 'online', bootId } });
    expect(online.retain).toBe(true);
  });

  it('publishes a kind validated by the contract, defaults filled in, and refuses what fails it before sending', async () => {
    const at = new Date().toISOString();
    const report = {
      schema: 1 as const,
      deviceId,
      bootId,
      phase: 'idle' as const,
      appliedAssignmentVersion: null,
      active: null,
      lastUpdate: null,
      agentVersion: 'test',
      reportedAt: at,
    };
    await expect(session.publish('reported', { ...report, appliedAssignmentVersion: -1 })).rejects.toThrow(/appliedAssignmentVersion/);
    await session.publish('reported', report);
    const window = idleWindow(deviceId, bootId, 0, at);
    await session.publish('telemetry', window);
    const got = await until('telemetry', () => upstream.find((u) => u.parsed.kind === 'telemetry'));
    expect(got.parsed).toMatchObject({ ok: true, payload: { ...window, source: 'probe', cacheHits: 0, fallbacks: 0 } });
    const reports = upstream.filter((u) => u.parsed.kind === 'reported');
    // only the valid report left the device
    expect(reports.map((u) => u.parsed.ok && u.parsed.payload)).toEqual([report]);
  });

  it('hands the agent its desired states and commands parsed, refusals named', async () => {
    const correlationId = randomUUID();
    const command = publishArgs('commands', deviceId, { correlationId, command: 'ping' });
    await cloud.publishAsync(command.topic, command.payload, command.options);
    await cloud.publishAsync(topics.desired(deviceId), '{not json', { qos: 1 });
    await cloud.publishAsync(topics.desired(deviceId), JSON.stringify({ payload: 'x' }), { qos: 1 });
    // another device's topic never reaches this one (it is not subscribed to it either)
    await cloud.publishAsync(topics.commands(randomUUID()), command.payload, { qos: 1 });
    await until('three messages', () => (inbound.length >= 3 ? true : undefined));
    expect(inbound.map((m) => [m.kind, m.ok ? 'ok' : m.error.code])).toEqual([
      ['commands', 'ok'],
      ['desired', 'bad_json'],
      ['desired', 'schema'],
    ]);
    expect(inbound[0]).toMatchObject({ ok: true, deviceId, payload: { correlationId, command: 'ping' } });
    expect(inbound[2]).toMatchObject({ ok: false, error: { value: { payload: 'x' } } });
  });

  it('publishes offline, retained, when it stops cleanly', async () => {
    const from = upstream.length;
    await session.stop();
    await until('offline', () => upstream.slice(from).find((u) => u.parsed.kind === 'status'));
    const offline = await retainedStatus();
    expect(offline.parsed).toMatchObject({ ok: true, payload: { state: 'offline', bootId } });
    expect(offline.retain).toBe(true);
  });
});
