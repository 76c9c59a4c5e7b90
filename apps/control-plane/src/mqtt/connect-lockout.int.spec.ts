import { createConnection } from 'node:net';
import { hardwarePreset, type EnrollResponse } from '@edge-fleet/shared';
import { AuditPageSchema } from '@edge-fleet/shared/api';
import { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newSecret } from '../infra/secrets.js';
import { jsonPost, startHarness, waitFor, type Harness } from '../test-support/harness.js';

/**
 * RELIABILITY row 25 on the embedded broker: wrong CONNECT passwords are counted per client
 * address and per device id in Redis, so two control-plane replicas (each with its broker) lock
 * out together; failures and lockouts are audited. The clients connect from distinct loopback
 * addresses (127.0.0.x) to tell the address lock from the device-id lock.
 */
let h1: Harness;
let h2: Harness;
const LIMITS = { LOCKOUT_FAILURES: '3', LOCKOUT_WINDOW_SECONDS: '600', LOCKOUT_SECONDS: '120' };

beforeAll(async () => {
  h1 = await startHarness(LIMITS);
  h2 = await startHarness({ ...LIMITS, QUEUE_PREFIX: h1.config.QUEUE_PREFIX }, { dbUrl: h1.dbUrl });
}, 90_000);

afterAll(async () => {
  await h2?.close();
  await h1?.close();
});

async function enroll(): Promise<EnrollResponse> {
  const tok = await jsonPost(h1, '/api/v1/enrollment-tokens', { scenario: 'robotic_manipulation', maxUses: 1 });
  const { token } = (await tok.json()) as { token: string };
  const res = await jsonPost(h1, '/api/v1/devices/enroll', { token, hardwareProfile: hardwarePreset('robot-npu-arm') }, false);
  expect(res.status).toBe(201);
  return (await res.json()) as EnrollResponse;
}

/** One CONNECT from `from` to a harness's broker: the CONNACK return code (0: accepted). */
function connack(h: Harness, deviceId: string, password: string, from: string): Promise<number> {
  const { hostname, port } = new URL(h.config.mqttUrl);
  const client = new MqttClient(() => createConnection({ host: hostname, port: Number(port), localAddress: from }), {
    clientId: deviceId,
    username: deviceId,
    password,
    protocolVersion: 4,
    reconnectPeriod: 0,
    connectTimeout: 10_000,
  });
  return new Promise<number>((resolve) => {
    client.once('connect', () => resolve(0));
    client.once('error', (e) => resolve(typeof (e as { code?: unknown }).code === 'number' ? (e as { code: number }).code : -1));
  }).finally(() => client.end(true));
}

async function audit(action: string, targetId: string) {
  const res = await h1.api(`/api/v1/audit?action=${action}&targetId=${encodeURIComponent(targetId)}&limit=100`);
  expect(res.status).toBe(200);
  return AuditPageSchema.parse(await res.json()).items;
}

describe('row 25: MQTT CONNECT password failures on the embedded broker', () => {
  it('wrong passwords for one device lock that device id out on both replicas, from any address; audited', async () => {
    const device = await enroll();
    expect(await connack(h1, device.deviceId, device.deviceSecret, '127.0.0.10')).toBe(0);
    // three wrong passwords, each from another address: no address reaches the limit, the device id does
    for (let i = 0; i < 3; i++) expect(await connack(i % 2 ? h2 : h1, device.deviceId, newSecret(), `127.0.0.${21 + i}`)).toBe(4);
    // the right password, from a clean address, on either replica: "server unavailable" until the lock ends
    await waitFor(async () => (await connack(h2, device.deviceId, device.deviceSecret, '127.0.0.10')) === 3, 5_000);
    expect(await connack(h1, device.deviceId, device.deviceSecret, '127.0.0.11')).toBe(3);
    const failures = await waitFor(async () => {
      const f = await audit('auth.device_failed', '127.0.0.22');
      return f.length === 1 && f;
    }, 5_000);
    expect(failures[0]?.details).toEqual({ deviceId: device.deviceId, via: 'mqtt' });
    const lockout = await waitFor(async () => (await audit('auth.lockout', device.deviceId))[0], 5_000);
    expect(lockout).toMatchObject({ targetType: 'device', details: { credential: 'device', failures: 3, lockSeconds: 120 } });
  });

  it('wrong passwords from one address lock that address out for every device, and no other address', async () => {
    const [victim, bystander] = [await enroll(), await enroll()];
    const attacker = '127.0.0.50';
    // each wrong password names another device: no device id reaches the limit, the address does
    for (const id of [victim.deviceId, bystander.deviceId, victim.deviceId]) expect(await connack(h1, id, newSecret(), attacker)).toBe(4);
    await waitFor(async () => (await connack(h2, bystander.deviceId, bystander.deviceSecret, attacker)) === 3, 5_000);
    expect(await connack(h1, bystander.deviceId, bystander.deviceSecret, '127.0.0.51')).toBe(0);
    expect(await connack(h2, victim.deviceId, victim.deviceSecret, '127.0.0.52')).toBe(0);
    const lockout = await waitFor(async () => (await audit('auth.lockout', attacker))[0], 5_000);
    expect(lockout).toMatchObject({ targetType: 'address', details: { credential: 'device' } });
  });
});
