import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topics, type DesiredStatePayload } from '@edge-fleet/shared';
import pg from 'pg';
import { connectDevice, enrollDevice } from '../test-support/device-client.js';
import { startHarness, uploadMlp, waitFor, type Harness } from '../test-support/harness.js';
import { openSignedDesired } from '../test-support/signed-desired.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

const statusOf = async (deviceId: string): Promise<string> =>
  ((await (await h.api(`/api/v1/devices/${deviceId}`)).json()) as { status: string }).status;

const becomes = (deviceId: string, status: string): Promise<boolean> =>
  waitFor(async () => (await statusOf(deviceId)) === status, 10_000, `${deviceId} ${status}`);

const online = (bootId = randomUUID()) => JSON.stringify({ state: 'online', bootId });

describe('presence from the broker: issue 10 item 5', () => {
  it('issue 10 item 5: online from the connection itself, offline after a clean disconnect despite a retained "online"', async () => {
    const e = await enrollDevice(h, 'financial_trading');
    const c = await connectDevice(h, e, { will: false });
    await becomes(e.deviceId, 'online'); // nothing published: the connection says it
    await c.publishAsync(topics.status(e.deviceId), online(), { qos: 1, retain: true });
    // a device claiming to be offline while connected does not make it so
    await c.publishAsync(topics.status(e.deviceId), JSON.stringify({ state: 'offline' }), { qos: 1 });
    await new Promise((r) => setTimeout(r, 300));
    expect(await statusOf(e.deviceId)).toBe('online');
    await c.endAsync(); // clean: no Last Will; the retained "online" stays on the broker
    await becomes(e.deviceId, 'offline');
  });

  it('issue 10 item 5: a device coming online by its connection alone gets its desired state (no status message needed)', async () => {
    const v = await uploadMlp(h, 'presence-model', '1.0.0', 51);
    const assigned = await h.api('/api/v1/scenarios/customer_support_agent/model', {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ modelVersionId: v.id }),
    });
    expect(assigned.status).toBe(200);
    // enrolled after the assignment: its desired state is made when it comes online
    const e = await enrollDevice(h, 'customer_support_agent', 'edge-gpu-kiosk');
    const c = await connectDevice(h, e, { will: false });
    const desired = new Promise<DesiredStatePayload>((resolve) =>
      c.on('message', (topic, payload) => {
        if (topic === topics.desired(e.deviceId)) resolve(openSignedDesired(payload, e.rootPublicKey));
      }),
    );
    await c.subscribeAsync(topics.desired(e.deviceId), { qos: 1 });
    expect((await desired).model?.variantId).toBe(v.variant);
    await c.endAsync();
  });

  it('issue 10 item 5: a session taken over by a new connection of the same device leaves it online, in event order', async () => {
    const e = await enrollDevice(h, 'financial_trading');
    const first = await connectDevice(h, e);
    await becomes(e.deviceId, 'online');
    const second = await connectDevice(h, e);
    await new Promise((r) => setTimeout(r, 500));
    expect(await statusOf(e.deviceId)).toBe('online');
    await second.endAsync();
    first.end(true);
    await becomes(e.deviceId, 'offline');
  });

  it('issue 10 item 5: an "online" left by a control plane that died is cleared when the embedded broker starts', async () => {
    const e = await enrollDevice(h, 'financial_trading');
    const db = new pg.Client({ connectionString: h.dbUrl });
    await db.connect();
    await db.query(`UPDATE "Device" SET status = 'online', "lastSeenAt" = now() WHERE id = $1`, [e.deviceId]);
    await db.end();
    const restarted = await startHarness({}, { dbUrl: h.dbUrl }); // a new process on the same database
    try {
      expect(await statusOf(e.deviceId)).toBe('offline');
    } finally {
      await restarted.close();
    }
  });

  it('issue 10 item 5: a case variant of the device id as client id and username is refused at CONNECT', async () => {
    const e = await enrollDevice(h, 'financial_trading');
    const upper = e.deviceId.toUpperCase();
    await expect(connectDevice(h, { ...e, deviceId: upper })).rejects.toThrow(/Identifier rejected/i);
    const basic = `Basic ${Buffer.from(`${upper}:${e.deviceSecret}`).toString('base64')}`;
    expect((await fetch(`${h.cp.url}/api/v1/artifacts/${'a'.repeat(64)}`, { headers: { authorization: basic } })).status).toBe(401);
    expect(await statusOf(e.deviceId)).not.toBe('online');
  });

  it('issue 10 item 9: a rejected status message is kept as a dead letter with the reason, and presence is unchanged', async () => {
    const e = await enrollDevice(h, 'financial_trading');
    const c = await connectDevice(h, e);
    await becomes(e.deviceId, 'online');
    await c.publishAsync(topics.status(e.deviceId), JSON.stringify({ state: 'sleeping' }), { qos: 1 });
    await c.publishAsync(topics.status(e.deviceId), 'not json', { qos: 1 });
    const db = new pg.Client({ connectionString: h.dbUrl });
    await db.connect();
    try {
      const rows = await waitFor(
        async () => {
          const r = await db.query<{ topic: string; reason: string; payload: string }>(
            'SELECT topic, reason, payload FROM "RejectedMessage" WHERE "deviceId" = $1 ORDER BY payload COLLATE "C"',
            [e.deviceId],
          );
          return r.rows.length === 2 ? r.rows : undefined;
        },
        10_000,
        'two dead letters',
      );
      expect(rows).toEqual([
        { topic: topics.status(e.deviceId), reason: 'status: not JSON', payload: 'not json' },
        { topic: topics.status(e.deviceId), reason: expect.stringMatching(/^status: state: /) as unknown, payload: '{"state":"sleeping"}' },
      ]);
    } finally {
      await db.end();
    }
    expect(await statusOf(e.deviceId)).toBe('online');
    await c.endAsync();
  });
});
