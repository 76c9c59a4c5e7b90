import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, waitFor, type Harness } from '../test-support/harness.js';
import { VirtualDevice } from '../test-support/virtual-device.js';

/** The worker's job scheduler runs evaluation passes on its own: nobody calls the evaluator here. */
let h: Harness;
beforeAll(async () => {
  h = await startHarness({ ALERT_EVAL_INTERVAL_MS: '300' });
}, 60_000);
afterAll(async () => {
  await h.close();
});

interface Item {
  ruleName: string;
  subject: string;
  state: string;
}

describe('continuous alert evaluation', () => {
  it('a device that drops off raises device_offline from the scheduled passes alone', async () => {
    const rules = ((await (await h.api('/api/v1/alert-rules')).json()) as { items: Record<string, unknown>[] }).items;
    const { id, origin: _o, updatedAt: _u, ...offline } = rules.find((r) => r.name === 'device_offline') ?? {};
    const put = await h.api(`/api/v1/alert-rules/${String(id)}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...offline, forSeconds: 1 }),
    });
    expect(put.status).toBe(200);
    const device = await VirtualDevice.start(h, 'data_analysis_agent', 'cloud-cpu-node');
    await device.stop();
    const alert = async (state: string) =>
      ((await (await h.api(`/api/v1/alerts?state=${state}`)).json()) as { items: Item[] }).items.find(
        (a) => a.ruleName === 'device_offline' && a.subject === device.id,
      );
    await waitFor(async () => (await alert('pending')) !== undefined, 15_000);
    await waitFor(async () => (await alert('firing')) !== undefined, 15_000);
  }, 45_000);
});
