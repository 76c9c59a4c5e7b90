import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { topics } from '@edge-fleet/shared';
import { connectDevice, enrollDevice } from '../test-support/device-client.js';
import { startHarness, waitFor, type Harness } from '../test-support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

// identity and topic isolation (rows 11, 12, 14) are tested on both brokers in broker-acl.both.int.spec.ts
describe('embedded broker: presence from the connection', () => {
  it('marks a device online on connect and offline through its Last Will', async () => {
    const e = await enrollDevice(h, 'financial_trading');
    const c = await connectDevice(h, e);
    await c.publishAsync(topics.status(e.deviceId), JSON.stringify({ state: 'online', bootId: randomUUID() }), { qos: 1, retain: true });
    await waitFor(
      async () => ((await (await h.api(`/api/v1/devices/${e.deviceId}`)).json()) as { status: string }).status === 'online',
      10_000,
      'online',
    );
    c.stream.destroy(); // an unclean drop fires the Last Will
    await waitFor(
      async () => ((await (await h.api(`/api/v1/devices/${e.deviceId}`)).json()) as { status: string }).status === 'offline',
      10_000,
      'offline',
    );
  });
});
