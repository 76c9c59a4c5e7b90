import { randomUUID } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topics, type EnrollResponse } from '@edge-fleet/shared';
import { enrollDevice, telemetryWindow } from '../test-support/device-client.js';
import { startHarness, waitFor, type Harness } from '../test-support/harness.js';
import { Mosquitto } from '@edge-fleet/test-utils';

/** The control plane on a private Mosquitto with dynamic security: it sees messages, never connections. */
let mosquitto: Mosquitto;
let h: Harness;
beforeAll(async () => {
  mosquitto = await Mosquitto.create();
  await mosquitto.start();
  h = await startHarness({ ...mosquitto.controlPlaneEnv, PRESENCE_STALE_SECONDS: '2' });
});
afterAll(async () => {
  await h.close();
  await mosquitto.close();
});

const statusOf = async (deviceId: string): Promise<string> =>
  ((await (await h.api(`/api/v1/devices/${deviceId}`)).json()) as { status: string }).status;

const connectAs = (e: EnrollResponse): Promise<MqttClient> =>
  mqtt.connectAsync(mosquitto.url, { clientId: e.deviceId, username: e.deviceId, password: e.deviceSecret, reconnectPeriod: 0 });

describe('presence on an external broker: issue 10 item 5', () => {
  it('issue 10 item 5: a device-sent "online" is believed only while the device is heard from (PRESENCE_STALE_SECONDS)', async () => {
    const quiet = await enrollDevice(h, 'financial_trading');
    const busy = await enrollDevice(h, 'financial_trading');
    const [q, b] = [await connectAs(quiet), await connectAs(busy)];
    const online = JSON.stringify({ state: 'online', bootId: randomUUID() });
    await q.publishAsync(topics.status(quiet.deviceId), online, { qos: 1, retain: true });
    await b.publishAsync(topics.status(busy.deviceId), online, { qos: 1, retain: true });
    await waitFor(
      async () => (await statusOf(quiet.deviceId)) === 'online' && (await statusOf(busy.deviceId)) === 'online',
      10_000,
      'both online',
    );
    // the quiet one leaves cleanly without saying so (no Last Will on a clean disconnect); the busy one keeps sending telemetry
    await q.endAsync();
    const bootId = randomUUID();
    let seq = 0;
    const sending = setInterval(
      () => void b.publishAsync(topics.telemetry(busy.deviceId), JSON.stringify(telemetryWindow(busy.deviceId, bootId, seq++)), { qos: 1 }),
      1_000,
    );
    try {
      await waitFor(async () => (await statusOf(quiet.deviceId)) === 'offline', 10_000, 'the quiet device offline');
      expect(await statusOf(busy.deviceId)).toBe('online');
    } finally {
      clearInterval(sending);
      await b.publishAsync(topics.status(busy.deviceId), '', { qos: 1, retain: true });
      await b.endAsync();
      const clear = await connectAs(quiet);
      await clear.publishAsync(topics.status(quiet.deviceId), '', { qos: 1, retain: true });
      await clear.endAsync();
    }
  });
});
