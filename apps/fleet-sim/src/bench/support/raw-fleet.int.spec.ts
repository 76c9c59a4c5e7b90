import { ReportedStateSchema, topics, type ReportedState } from '@edge-fleet/shared';
import { waitFor } from '@edge-fleet/test-utils';
import type { Aedes } from 'aedes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deviceBroker } from './device-broker.js';
import { RawFleet } from './raw-fleet.js';

const DEVICES = Array.from({ length: 3 }, (_, i) => ({ deviceId: `00000000-0000-4000-8000-00000000010${i}`, deviceSecret: `secret-${i}` }));

let broker: Aedes;
let close: () => Promise<void>;
let port = 0;
/** What the devices published, by topic, as the broker received it. */
const published: { topic: string; payload: string; retain: boolean; qos: number; client: string }[] = [];

beforeAll(async () => {
  ({ broker, port, close } = await deviceBroker(DEVICES));
  // each device kept to its own topics, as the control plane's broker keeps it
  broker.authorizeSubscribe = (client, sub, done) =>
    done(sub.topic === topics.desired(client?.id ?? '') ? null : new Error('not its topic'), sub);
  broker.on('publish', (packet, client) => {
    if (client)
      published.push({
        topic: packet.topic,
        payload: packet.payload.toString(),
        retain: packet.retain,
        qos: packet.qos,
        client: client.id,
      });
  });
});

afterAll(() => close());

/** A desired-state message as the control plane publishes it: the state inside a signed envelope (not checked here). */
function desiredMessage(deviceId: string, assignmentVersion: number): Buffer {
  const state = {
    schema: 1,
    deviceId,
    assignmentVersion,
    scenario: 'autonomous_driving',
    model: {
      modelVersionId: `mv-${assignmentVersion}`,
      variantId: `var-${assignmentVersion}`,
      precision: 'int8',
      sha256: 'a'.repeat(64),
      sizeBytes: 1_000,
    },
    runtime: { targetRateHz: 10, windowSeconds: 10, intraOpThreads: 1 },
  };
  return Buffer.from(
    JSON.stringify({ payload: Buffer.from(JSON.stringify(state)).toString('base64'), signature: 'unchecked', keyId: 'k' }),
  );
}

const publish = (topic: string, payload: Buffer): Promise<void> =>
  new Promise((resolve, reject) =>
    broker.publish({ cmd: 'publish', topic, payload, qos: 1, retain: false, dup: false }, (e) => (e ? reject(e) : resolve())),
  );

const reportsOf = (deviceId: string): ReportedState[] =>
  published.filter((m) => m.topic === topics.reported(deviceId)).map((m) => ReportedStateSchema.parse(JSON.parse(m.payload)));

describe('the raw fan-out devices (bench:fanout --sim raw)', () => {
  it('each connects with its own credentials, subscribes to its desired topic, says online and reports; a desired state is acknowledged by a report of it applied, its model active', async () => {
    const notified: [string, number][] = [];
    const wrong = { deviceId: '00000000-0000-4000-8000-0000000001ff', deviceSecret: 'nope' };
    const fleet = new RawFleet({
      host: '127.0.0.1',
      port,
      devices: [...DEVICES, wrong],
      sourceAddresses: ['127.0.0.1', '127.0.0.2'],
      connectConcurrency: 2,
      onDesired: (id, version) => notified.push([id, version]),
    });
    try {
      expect(await fleet.start()).toBe(DEVICES.length);
      expect(fleet.counters).toMatchObject({ connected: DEVICES.length, refused: 1 });
      for (const d of DEVICES) {
        const status = await waitFor(() => published.find((m) => m.topic === topics.status(d.deviceId)), 5_000, 'online status');
        expect(status).toMatchObject({ retain: true, qos: 1, client: d.deviceId });
        expect(JSON.parse(status.payload)).toMatchObject({ state: 'online' });
        await waitFor(() => reportsOf(d.deviceId)[0], 5_000, 'first report');
        expect(reportsOf(d.deviceId)[0]).toMatchObject({ appliedAssignmentVersion: null, active: null, phase: 'idle' });
      }

      const [first, second] = DEVICES;
      if (!first || !second) throw new Error('devices');
      await publish(topics.desired(first.deviceId), desiredMessage(first.deviceId, 7));
      const applied = await waitFor(() => reportsOf(first.deviceId).find((r) => r.appliedAssignmentVersion === 7), 5_000, 'report of v7');
      expect(applied).toMatchObject({
        phase: 'running',
        active: { modelVersionId: 'mv-7', variantId: 'var-7', precision: 'int8', sha256: 'a'.repeat(64) },
        lastUpdate: { assignmentVersion: 7, outcome: 'ok' },
      });
      expect(notified).toEqual([[first.deviceId, 7]]);

      // a state for another device on this one's topic is not taken (nor is garbage)
      await publish(topics.desired(second.deviceId), desiredMessage(first.deviceId, 8));
      await publish(topics.desired(second.deviceId), Buffer.from('not json'));
      await waitFor(() => fleet.counters.unreadable === 2 || undefined, 5_000, 'two unreadable states');
      expect(reportsOf(second.deviceId)).toHaveLength(1);
      expect(notified).toHaveLength(1);
    } finally {
      await fleet.stop();
    }
    expect(fleet.counters.closed).toBe(0);
  }, 30_000);
});
