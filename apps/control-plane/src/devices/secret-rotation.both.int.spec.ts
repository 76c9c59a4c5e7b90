import { DeviceSecretSchema } from '@edge-fleet/shared/api';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectDevice, enrollDevice } from '../test-support/device-client.js';
import { jsonPost, startHarnessOn, waitFor, type Harness } from '../test-support/harness.js';

/**
 * Issue 12: rotating a device's secret (REST and tRPC, admin only). The new secret is answered
 * once and stored hashed; the old one is refused at CONNECT and at artifact downloads at once
 * (also right after it was accepted, when the check is cached); the live session it opened ends;
 * the change is audited. Real control plane and Postgres, on both brokers: the embedded one, and
 * Mosquitto with dynamic security (the client's password replaced through the plugin).
 */
for (const kind of ['embedded', 'mosquitto'] as const)
  describe(`issue 12: device secret rotation (${kind} broker)`, () => {
    let h: Harness;
    let db: pg.Client;

    beforeAll(async () => {
      h = await startHarnessOn(kind);
      db = new pg.Client({ connectionString: h.dbUrl });
      await db.connect();
    }, 90_000);

    afterAll(async () => {
      await db?.end();
      await h?.close();
    });

    rotationTests(() => ({ h, db }));
  });

/** A refused CONNECT: aedes answers "bad user name or password" (4), Mosquitto "not authorised" (5). */
const REFUSED = [4, 5];

function rotationTests(env: () => { h: Harness; db: pg.Client }): void {
  /** An artifact download with the device's Basic credential: 401 when the credential is refused. */
  const download = (deviceId: string, secret: string) => {
    const { h } = env();
    return fetch(`${h.cp.url}/api/v1/artifacts/${'a'.repeat(64)}`, {
      headers: { authorization: `Basic ${Buffer.from(`${deviceId}:${secret}`).toString('base64')}` },
    });
  };

  const connackCode = (e: Parameters<typeof connectDevice>[1], password: string) =>
    connectDevice(env().h, e, { password, will: false }).then(
      (c) => {
        c.end(true);
        return 0;
      },
      (err: { code?: number }) => err.code ?? -1,
    );

  it('the old secret is refused at CONNECT and download, its live session ends, the new one works; audited', async () => {
    const { h, db } = env();
    const device = await enrollDevice(h, 'robotic_manipulation');
    const old = device.deviceSecret;
    // the old secret works, and its check is now cached
    expect((await download(device.deviceId, old)).status).not.toBe(401);
    const live = await connectDevice(h, device, { will: false });
    const closed = new Promise<void>((resolve) => live.once('close', () => resolve()));

    const res = await jsonPost(h, `/api/v1/devices/${device.deviceId}/rotate-secret`, {});
    expect(res.status, await res.clone().text()).toBe(200);
    const rotated = DeviceSecretSchema.parse(await res.json());
    expect(rotated.deviceId).toBe(device.deviceId);
    expect(rotated.deviceSecret).not.toBe(old);
    // stored hashed: the secret appears nowhere in the row
    const row = await db.query<{ secretHash: string }>('SELECT "secretHash" FROM "Device" WHERE id = $1', [device.deviceId]);
    expect(row.rows[0]?.secretHash).not.toContain(rotated.deviceSecret);

    await closed;
    live.end(true);
    expect(REFUSED).toContain(await connackCode(device, old));
    expect((await download(device.deviceId, old)).status).toBe(401);
    expect(await connackCode(device, rotated.deviceSecret)).toBe(0);
    expect((await download(device.deviceId, rotated.deviceSecret)).status).not.toBe(401);

    const audit = await db.query<{ actor: string }>(
      `SELECT actor FROM "AuditEvent" WHERE action = 'device.rotate_secret' AND "targetId" = $1`,
      [device.deviceId],
    );
    expect(audit.rows).toEqual([{ actor: expect.stringMatching(/^operator:/) as string }]);
  });

  it('tRPC rotates too; a non-admin is refused and nothing changes; an unknown device is 404', async () => {
    const { h } = env();
    const device = await enrollDevice(h, 'robotic_manipulation');
    const operator = await jsonPost(h, '/api/v1/tokens', { name: 'rotation operator', role: 'operator' });
    const { secret } = (await operator.json()) as { secret: string };
    const asOperator = await fetch(`${h.cp.url}/api/v1/devices/${device.deviceId}/rotate-secret`, {
      method: 'POST',
      headers: { authorization: `Bearer ${secret}` },
    });
    expect(asOperator.status).toBe(403);
    expect(await connackCode(device, device.deviceSecret)).toBe(0);

    const viaTrpc = await jsonPost(h, '/trpc/devices.rotateSecret', { id: device.deviceId });
    expect(viaTrpc.status).toBe(200);
    const { result } = (await viaTrpc.json()) as { result: { data: unknown } };
    const rotated = DeviceSecretSchema.parse(result.data);
    await waitFor(async () => REFUSED.includes(await connackCode(device, device.deviceSecret)), 5_000);
    expect(await connackCode(device, rotated.deviceSecret)).toBe(0);

    expect((await jsonPost(h, `/api/v1/devices/${crypto.randomUUID()}/rotate-secret`, {})).status).toBe(404);
  });
}
