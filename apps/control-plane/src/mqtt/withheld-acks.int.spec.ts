import { parseTopic } from '@edge-fleet/shared';
import { WithholdingBroker } from '@edge-fleet/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enrollDevice } from '../test-support/device-client.js';
import { setScenarioModel, startHarness, uploadMlp, waitFor, type Harness } from '../test-support/harness.js';

/**
 * RELIABILITY row 22, the control plane's side: an external broker that takes a desired state and
 * never acknowledges it (the connection otherwise alive: it answers PINGREQ and later publishes).
 * The control plane gives up on that PUBACK after MQTT_PUBACK_TIMEOUT_MS, replaces the connection,
 * and the desired-state job publishes again; meanwhile the API answers.
 */
let broker: WithholdingBroker;
let h: Harness;

beforeAll(async () => {
  broker = await WithholdingBroker.start({ withholdPuback: (topic) => parseTopic(topic)?.kind === 'desired' });
  h = await startHarness({ MQTT_URL: broker.url, MQTT_PROVISIONING: 'none', MQTT_PUBACK_TIMEOUT_MS: '1000' });
}, 60_000);

afterAll(async () => {
  await h?.close();
  await broker?.close();
});

describe('an external broker that withholds a PUBACK', () => {
  it('row 22: the desired state is published again on a new connection, and the API answers meanwhile', async () => {
    const model = await uploadMlp(h, 'withheld', '1', 3);
    const device = await enrollDevice(h, 'data_analysis_agent', 'cloud-cpu-node');
    const connectsBefore = broker.connects.length;
    await setScenarioModel(h, 'data_analysis_agent', model.id);
    const topic = `fleet/v1/devices/${device.deviceId}/desired`;
    await waitFor(() => broker.published.some((p) => p.topic === topic), 15_000, 'the first desired state');
    // the first is left unacknowledged: the API still answers
    const t = performance.now();
    const res = await h.api(`/api/v1/devices/${device.deviceId}`);
    expect(res.status).toBe(200);
    const apiMs = performance.now() - t;
    // published again (on a new connection) and acknowledged this time
    await waitFor(() => broker.published.filter((p) => p.topic === topic).length >= 2, 30_000, 'the desired state published again');
    expect(broker.connects.length).toBeGreaterThan(connectsBefore);
    const [first, again] = broker.published.filter((p) => p.topic === topic);
    expect((again?.at ?? 0) - (first?.at ?? 0)).toBeGreaterThanOrEqual(1_000 - 10);
    process.stdout.write(`row 22 (control plane): API answered in ${apiMs.toFixed(0)} ms while a PUBACK was withheld\n`);
  }, 60_000);
});
