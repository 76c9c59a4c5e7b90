import { describe, expect, it } from 'vitest';
import { devicePublishAllowed, deviceSubscribeAllowed, filters, parseTopic, topics } from './mqtt.js';

const a = '3f0e4a52-8a9c-4d1e-9f57-2b1c6f0d9a11';
const b = '9b2d7c1e-1111-4222-8333-444455556666';

describe('topic map', () => {
  it('builds and parses every device topic', () => {
    for (const [kind, build] of [
      ['desired', topics.desired],
      ['reported', topics.reported],
      ['telemetry', topics.telemetry],
      ['status', topics.status],
      ['commands', topics.commands],
      ['commands/ack', topics.commandAck],
    ] as const) {
      expect(parseTopic(build(a))).toEqual({ deviceId: a, kind });
    }
  });

  it('refuses topics outside the map', () => {
    for (const t of [
      'fleet/v1/devices/+/telemetry',
      'fleet/v1/devices/#',
      `fleet/v1/devices/${a}/telemetry/x`,
      `fleet/v2/devices/${a}/telemetry`,
      'fleet/v1/devices/__proto__/status',
      `fleet/v1/devices/${a}`,
      '',
    ]) {
      expect(parseTopic(t)).toBeNull();
    }
  });

  it('lets a device publish only its own upstream topics and subscribe only to its own downstream topics', () => {
    expect(devicePublishAllowed(a, topics.telemetry(a))).toBe(true);
    expect(devicePublishAllowed(a, topics.telemetry(b))).toBe(false);
    expect(devicePublishAllowed(a, topics.desired(a))).toBe(false);
    expect(deviceSubscribeAllowed(a, topics.desired(a))).toBe(true);
    expect(deviceSubscribeAllowed(a, topics.desired(b))).toBe(false);
    expect(deviceSubscribeAllowed(a, filters.telemetry)).toBe(false);
    expect(deviceSubscribeAllowed(a, '#')).toBe(false);
    expect(filters.shared('cp', filters.telemetry)).toBe('$share/cp/fleet/v1/devices/+/telemetry');
  });
});

describe('broker ACLs for an external broker', () => {
  it('name exactly the topics the embedded ACL allows a device, in the same direction', async () => {
    const { deviceBrokerAcls } = await import('./broker-admin.js');
    const { TOPIC_KINDS } = await import('./mqtt-topics.js');
    const { topicOf } = await import('./mqtt-contract.js');
    const a = '11111111-1111-4111-8111-111111111111';
    const acls = deviceBrokerAcls(a);
    for (const kind of TOPIC_KINDS) {
      const topic = topicOf(kind, a);
      expect(
        acls.some((x) => x.acltype === 'publishClientSend' && x.topic === topic),
        `publish ${kind}`,
      ).toBe(devicePublishAllowed(a, topic));
      expect(
        acls.some((x) => x.acltype === 'subscribeLiteral' && x.topic === topic),
        `subscribe ${kind}`,
      ).toBe(deviceSubscribeAllowed(a, topic));
    }
    // nothing but the device's own topics, no wildcard, all allow
    expect(acls.every((x) => x.allow && x.topic.startsWith(topics.deviceRoot(a)) && !/[+#]/.test(x.topic))).toBe(true);
  });
});
