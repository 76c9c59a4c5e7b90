import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { filters, topics } from '@edge-fleet/shared';
import mqtt, { type MqttClient } from 'mqtt';
import pg from 'pg';
import { connectDevice, enrollDevice } from '../test-support/device-client.js';
import { startHarness, waitFor, type Harness } from '../test-support/harness.js';
import { MQTT_BUS } from '../infra/tokens.js';
import type { MessageBus } from './mqtt-bus.js';

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

  it('denies subscriptions to other devices, to # and to $SYS, and delivers nothing on them', async () => {
    const a = await enrollDevice(h, 'financial_trading');
    const b = await enrollDevice(h, 'financial_trading');
    const bus = h.cp.app.get<MessageBus>(MQTT_BUS);
    const cb = await connectDevice(h, b, { will: false });
    const own = topics.commands(a.deviceId);
    for (const [i, filter] of [topics.desired(b.deviceId), '#', '$SYS/#', filters.telemetry].entries()) {
      // a persistent session: a denied filter must not end up in it either
      const got: string[] = [];
      const session = (clean: boolean) => {
        const c = mqtt.connect(h.config.mqttUrl, {
          clientId: a.deviceId,
          username: a.deviceId,
          password: a.deviceSecret,
          protocolVersion: 4,
          clean,
          reconnectPeriod: 0,
        });
        c.on('message', (topic) => got.push(topic));
        return new Promise<MqttClient>((resolve, reject) => {
          c.once('connect', () => resolve(c));
          c.once('error', reject);
        });
      };
      // a clean connect first ends whatever session the last filter's round left
      let c = await session(true);
      await c.endAsync();
      c = await session(false);
      expect((await c.subscribeAsync(own, { qos: 1 })).map((g) => g.qos)).toEqual([1]);
      // refused: a SUBACK failure (128), or the broker drops the connection (aedes); never a grant
      const refusal = await c.subscribeAsync(filter, { qos: 1 }).then(
        (g) => g.map((x) => x.qos),
        (e: unknown) => (e instanceof Error && /Connection closed/.test(e.message) && !c.connected ? 'closed' : e),
      );
      expect([[128], 'closed'], `subscribing ${filter}`).toContainEqual(refusal);
      if (refusal === 'closed') c = await session(false);
      // traffic the denied filter would match: B's telemetry, B's desired state, and the $SYS
      // announcements the broker makes of every connect and subscribe (A's own included)
      await cb.publishAsync(topics.telemetry(b.deviceId), JSON.stringify(window(b.deviceId, i + 1)), { qos: 1 });
      await bus.publish(topics.desired(b.deviceId), '{"probe":"for B"}');
      // positive control: a message A may receive, sent after all of that: once it is here, the rest had its chance
      await bus.publish(own, '{"probe":"for A"}');
      await waitFor(() => Promise.resolve(got.includes(own)), 10_000, `A's own message (after ${filter})`);
      expect(got, `delivered to A after subscribing ${filter}`).toEqual([own]);
      await c.endAsync();
    }
    await cb.endAsync();
  });
});
