import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { filters, topics } from '@edge-fleet/shared';
import pg from 'pg';
import { connectDevice, enrollDevice } from '../test-support/device-client.js';
import { startHarness, waitFor, type Harness } from '../test-support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

async function telemetryRows(deviceId: string): Promise<number> {
  const c = new pg.Client({ connectionString: h.dbUrl });
  await c.connect();
  const r = await c.query('SELECT count(*)::int AS n FROM "TelemetryWindow" WHERE "deviceId" = $1', [deviceId]);
  await c.end();
  return (r.rows[0] as { n: number }).n;
}

function window(deviceId: string, seq: number) {
  const end = new Date();
  return {
    schema: 1,
    deviceId,
    bootId: '00000000-0000-4000-8000-000000000001',
    seq,
    windowStart: new Date(end.getTime() - 5_000).toISOString(),
    windowEnd: end.toISOString(),
    modelVersionId: null,
    variantId: null,
    precision: null,
    inferences: 10,
    errors: 0,
    latencyMs: { p50: 1, p95: 2, p99: 3, max: 4 },
    power: { watts: 2.5, source: 'estimate', detail: 'test' },
    memory: { rssMb: 50, heapUsedMb: 10 },
  };
}

describe('embedded broker: per-device identity and topic isolation', () => {
  it('refuses a wrong secret, and a client id that is not the device id', async () => {
    const e = await enrollDevice(h, 'financial_trading');
    await expect(connectDevice(h, e, { password: 'x'.repeat(43) })).rejects.toThrow(/Bad username or password|Not authorized/i);
    await expect(connectDevice(h, e, { clientId: 'someone-else' })).rejects.toThrow(/Identifier rejected/i);
  });

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

  it("keeps device A out of device B's topics: forged telemetry never reaches Postgres", async () => {
    const a = await enrollDevice(h, 'financial_trading');
    const b = await enrollDevice(h, 'financial_trading');
    const ca = await connectDevice(h, a);
    const closed = new Promise<void>((resolve) => ca.once('close', () => resolve()));
    ca.publish(topics.telemetry(b.deviceId), JSON.stringify(window(b.deviceId, 1)), { qos: 1 });
    await closed; // the broker drops a client that publishes outside its own subtree
    const cb = await connectDevice(h, b);
    await cb.publishAsync(topics.telemetry(b.deviceId), JSON.stringify(window(b.deviceId, 2)), { qos: 1 });
    await waitFor(async () => (await telemetryRows(b.deviceId)) === 1, 10_000, 'B telemetry row');
    expect(await telemetryRows(b.deviceId)).toBe(1);
    await cb.endAsync();
  });

  it('denies subscriptions to other devices, to # and to $SYS', async () => {
    const a = await enrollDevice(h, 'financial_trading');
    const b = await enrollDevice(h, 'financial_trading');
    for (const filter of [topics.desired(b.deviceId), '#', '$SYS/#', filters.telemetry]) {
      const c = await connectDevice(h, a, { will: false });
      const granted = await c.subscribeAsync(filter, { qos: 1 }).then(
        (g) => g[0]?.qos,
        () => 128,
      );
      expect([128, undefined]).toContain(granted);
      c.end(true);
    }
    const own = await connectDevice(h, a, { will: false });
    const g = await own.subscribeAsync(topics.desired(a.deviceId), { qos: 1 });
    expect(g[0]?.qos).toBe(1);
    await own.endAsync();
  });
});
