import { createConnection } from 'node:net';
import { hardwarePreset, type EnrollResponse } from '@edge-fleet/shared';
import { AuditPageSchema, AuditVerificationSchema } from '@edge-fleet/shared/api';
import { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newSecret, sha256Hex } from '../infra/secrets.js';
import { enrollDevice } from '../test-support/device-client.js';
import { jsonPost, startHarness, waitFor, type Harness } from '../test-support/harness.js';
import { ApiTokenRepository } from './api-token.repository.js';

/**
 * RELIABILITY row 25: request rate limits and credential lockouts on the operator API and on
 * enrollment, counted in Redis so that two api replicas count the same requests. The clients'
 * addresses are told by X-Forwarded-For, which the control plane trusts from loopback (TRUST_PROXY),
 * as it would from a load balancer or the dashboard in front of it.
 */
let h1: Harness;
let h2: Harness;

const LIMITS = {
  RATE_LIMIT_PER_SECOND: '0.2',
  RATE_LIMIT_BURST: '30',
  RATE_LIMIT_ENROLL_PER_SECOND: '0.01',
  RATE_LIMIT_ENROLL_BURST: '4',
  LOCKOUT_FAILURES: '3',
  LOCKOUT_WINDOW_SECONDS: '600',
  LOCKOUT_SECONDS: '120',
};

beforeAll(async () => {
  h1 = await startHarness(LIMITS);
  // a second api replica on the same database and Redis prefix
  h2 = await startHarness({ ...LIMITS, QUEUE_PREFIX: h1.config.QUEUE_PREFIX }, { dbUrl: h1.dbUrl });
}, 90_000);

afterAll(async () => {
  await h2?.close();
  await h1?.close();
});

async function newToken(role: 'admin' | 'viewer' = 'admin'): Promise<string> {
  const token = `eft_op_${newSecret()}`;
  await h1.cp.app.get(ApiTokenRepository).create({ name: `abuse test ${role}`, tokenHash: sha256Hex(token), role });
  return token;
}

function get(h: Harness, path: string, token: string, from: string): Promise<Response> {
  return fetch(`${h.cp.url}${path}`, { headers: { authorization: `Bearer ${token}`, 'x-forwarded-for': from } });
}

function enroll(h: Harness, body: unknown, from: string): Promise<Response> {
  return fetch(`${h.cp.url}/api/v1/devices/enroll`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-forwarded-for': from },
    body: JSON.stringify(body),
  });
}

async function audit(action: string, targetId: string, reader: string) {
  const res = await get(h1, `/api/v1/audit?action=${action}&targetId=${encodeURIComponent(targetId)}&limit=100`, reader, '127.0.0.1');
  expect(res.status).toBe(200);
  return AuditPageSchema.parse(await res.json()).items;
}

describe('abuse limits', () => {
  it('row 25: wrong operator tokens lock their address out (429, Retry-After, audited) and no other address', async () => {
    const good = await newToken();
    const reader = await newToken();
    const attacker = '203.0.113.7';
    for (let i = 0; i < 3; i++) expect((await get(h1, '/api/v1/devices', `eft_op_${newSecret()}`, attacker)).status).toBe(401);
    // the third failure locks the address: now even a valid token from it is refused, on either replica
    await waitFor(async () => (await get(h1, '/api/v1/devices', good, attacker)).status === 429, 5_000);
    const refused = await get(h2, '/api/v1/devices', good, attacker);
    expect(refused.status).toBe(429);
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(100);
    expect(retryAfter).toBeLessThanOrEqual(120);
    const body = (await refused.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('rate_limited');
    expect(body.error.message).toContain('too many failed operator tokens from this address');
    // tRPC answers in its own shape
    const trpc = await fetch(`${h1.cp.url}/trpc/fleet.overview`, {
      headers: { authorization: `Bearer ${good}`, 'x-forwarded-for': attacker },
    });
    expect(trpc.status).toBe(429);
    expect(((await trpc.json()) as { error: { data: { code: string } } }).error.data.code).toBe('TOO_MANY_REQUESTS');

    // another client, with the same valid token, is not locked out; its own wrong token is a plain 401
    const other = '198.51.100.20';
    expect((await get(h2, '/api/v1/devices', good, other)).status).toBe(200);
    expect((await get(h2, '/api/v1/devices', `eft_op_${newSecret()}`, other)).status).toBe(401);
    expect((await get(h1, '/api/v1/devices', good, other)).status).toBe(200);

    // every failure and the lockout are in the audit, and the chain still verifies
    await waitFor(async () => (await audit('auth.operator_failed', attacker, reader)).length === 3, 5_000);
    const lockouts = await waitFor(async () => {
      const l = await audit('auth.lockout', attacker, reader);
      return l.length === 1 && l;
    }, 5_000);
    expect(lockouts[0]?.details).toMatchObject({ credential: 'operator', failures: 3, lockSeconds: 120 });
    const v = AuditVerificationSchema.parse(await (await get(h1, '/api/v1/audit/verify', reader, '127.0.0.1')).json());
    expect(v.ok).toBe(true);
  });

  it('row 25: an IPv4 address and its IPv4-mapped IPv6 form are one address; an IPv6 address counts by its /64', async () => {
    const good = await newToken();
    // two failures as ::ffff:203.0.113.9 (a dual-stack listener's view of an IPv4 client), the third as 203.0.113.9
    for (const from of ['::ffff:203.0.113.9', '::FFFF:203.0.113.9', '203.0.113.9'])
      expect((await get(h1, '/api/v1/devices', `eft_op_${newSecret()}`, from)).status).toBe(401);
    await waitFor(async () => (await get(h1, '/api/v1/devices', good, '203.0.113.9')).status === 429, 5_000);
    expect((await get(h2, '/api/v1/devices', good, '::ffff:203.0.113.9')).status).toBe(429);
    expect((await get(h2, '/api/v1/devices', good, '203.0.113.10')).status).toBe(200);

    // three addresses of one /64 lock the /64; the next /64 is another client
    for (const from of ['2001:db8:7:1::1', '2001:db8:7:1::2', '2001:db8:7:1:a:b:c:d'])
      expect((await get(h1, '/api/v1/devices', `eft_op_${newSecret()}`, from)).status).toBe(401);
    await waitFor(async () => (await get(h1, '/api/v1/devices', good, '2001:db8:7:1::99')).status === 429, 5_000);
    expect((await get(h2, '/api/v1/devices', good, '2001:db8:7:2::1')).status).toBe(200);
    const reader = await newToken();
    const lockout = await waitFor(async () => (await audit('auth.lockout', '2001:db8:7:1::/64', reader))[0], 5_000);
    expect(lockout).toMatchObject({ targetType: 'address', details: { credential: 'operator' } });
  });

  it("row 25: one token's request rate is counted across both api replicas; another token is not slowed", async () => {
    const greedy = await newToken('viewer');
    const calm = await newToken('viewer');
    const answers: number[] = [];
    const started = Date.now();
    // 40 requests alternating between the replicas: 20 each, under the burst of 30 on either one alone
    for (let i = 0; i < 40; i++) answers.push((await get(i % 2 ? h2 : h1, '/api/v1/policies', greedy, '192.0.2.1')).status);
    // the bucket refills while the requests run (seconds on a loaded machine): each refilled token serves one more
    const refilled = Math.floor(((Date.now() - started) / 1_000) * Number(LIMITS.RATE_LIMIT_PER_SECOND));
    expect(refilled, 'requests too slow for the bucket to be seen').toBeLessThan(10);
    expect(answers.slice(0, 30)).toEqual(Array.from({ length: 30 }, () => 200));
    // counted on each replica alone, all 40 would be served
    expect(answers.filter((s) => s === 200).length).toBeLessThanOrEqual(30 + refilled);
    // from another address too (anything refilled meanwhile is spent first)
    const refused = await waitFor(
      async () => {
        const r = await get(h1, '/api/v1/policies', greedy, '192.0.2.99');
        return r.status === 429 && r;
      },
      10_000,
      'the greedy token refused from another address',
    );
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(((await refused.json()) as { error: { message: string } }).error.message).toContain('per operator token');
    // the same address with another token, on both replicas
    expect((await get(h1, '/api/v1/policies', calm, '192.0.2.1')).status).toBe(200);
    expect((await get(h2, '/api/v1/policies', calm, '192.0.2.1')).status).toBe(200);
  });

  it('row 25: enrollment is limited per address, and wrong enrollment tokens lock only their address out', async () => {
    const admin = await newToken();
    const created = await fetch(`${h1.cp.url}/api/v1/enrollment-tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json', 'x-forwarded-for': '127.0.0.1' },
      body: JSON.stringify({ scenario: 'robotic_manipulation', maxUses: 10 }),
    });
    expect(created.status).toBe(201);
    const { token } = (await created.json()) as { token: string };
    const request = (t: string) => ({ token: t, hardwareProfile: hardwarePreset('robot-npu-arm') });

    const guesser = '203.0.113.50';
    for (let i = 0; i < 3; i++) expect((await enroll(i % 2 ? h2 : h1, request(`eft_en_${newSecret()}`), guesser)).status).toBe(401);
    await waitFor(async () => (await enroll(h1, request(token), guesser)).status === 429, 5_000);
    const locked = await enroll(h2, request(token), guesser);
    expect(locked.status).toBe(429);
    expect(((await locked.json()) as { error: { message: string } }).error.message).toContain('too many failed enrollment tokens');
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(100);

    // a provisioning station elsewhere enrolls with the real token, up to its burst of 4 per address
    const station = '198.51.100.60';
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await enroll(i % 2 ? h2 : h1, request(token), station)).status);
    expect(statuses).toEqual([201, 201, 201, 201, 429]);
    await waitFor(async () => (await audit('auth.enroll_failed', guesser, admin)).length === 3, 5_000);
    await waitFor(async () => (await audit('auth.lockout', guesser, admin)).length === 1, 5_000);
  });

  it('row 25: wrong secrets for one device lock that device id out, from whatever address they come', async () => {
    const admin = await newToken();
    const tok = await jsonPost(h1, '/api/v1/enrollment-tokens', { scenario: 'robotic_manipulation', maxUses: 2 });
    const { token } = (await tok.json()) as { token: string };
    const device = (await (
      await enroll(h1, { token, hardwareProfile: hardwarePreset('robot-npu-arm') }, '198.51.100.70')
    ).json()) as EnrollResponse;
    const basic = (secret: string) => `Basic ${Buffer.from(`${device.deviceId}:${secret}`).toString('base64')}`;
    const download = (secret: string, from: string) =>
      fetch(`${h1.cp.url}/api/v1/artifacts/${'a'.repeat(64)}`, { headers: { authorization: basic(secret), 'x-forwarded-for': from } });
    // the right secret gets past authentication (the artifact is not the device's: 403 or 404, not 401)
    expect([403, 404]).toContain((await download(device.deviceSecret, '198.51.100.70')).status);
    for (let i = 0; i < 3; i++) expect((await download(newSecret(), `203.0.113.${100 + i}`)).status).toBe(401);
    await waitFor(async () => (await download(device.deviceSecret, '198.51.100.70')).status === 429, 5_000);
    const lockout = await waitFor(async () => (await audit('auth.lockout', device.deviceId, admin))[0], 5_000);
    expect(lockout.targetType).toBe('device');
  });
});

/**
 * Row 25 on the embedded broker: wrong CONNECT passwords are counted per client address and per
 * device id in Redis, so the two replicas (each with its broker) lock out together. The clients
 * connect from distinct loopback addresses (127.0.0.x, never 127.0.0.1) to tell the address lock
 * from the device-id lock.
 */
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

describe('row 25: MQTT CONNECT password failures on the embedded broker', () => {
  it('wrong passwords for one device lock that device id out on both replicas, from any address; audited', async () => {
    const device = await enrollDevice(h1, 'robotic_manipulation');
    expect(await connack(h1, device.deviceId, device.deviceSecret, '127.0.0.10')).toBe(0);
    // three wrong passwords, each from another address: no address reaches the limit, the device id does
    for (let i = 0; i < 3; i++) expect(await connack(i % 2 ? h2 : h1, device.deviceId, newSecret(), `127.0.0.${21 + i}`)).toBe(4);
    // the right password, from a clean address, on either replica: "server unavailable" until the lock ends
    await waitFor(async () => (await connack(h2, device.deviceId, device.deviceSecret, '127.0.0.10')) === 3, 5_000);
    expect(await connack(h1, device.deviceId, device.deviceSecret, '127.0.0.11')).toBe(3);
    const failures = await waitFor(async () => {
      const f = await audit('auth.device_failed', '127.0.0.22', h1.cp.operatorToken);
      return f.length === 1 && f;
    }, 5_000);
    expect(failures[0]?.details).toEqual({ deviceId: device.deviceId, via: 'mqtt' });
    const lockout = await waitFor(async () => (await audit('auth.lockout', device.deviceId, h1.cp.operatorToken))[0], 5_000);
    expect(lockout).toMatchObject({ targetType: 'device', details: { credential: 'device', failures: 3, lockSeconds: 120 } });
  });

  it('wrong passwords from one address lock that address out for every device, and no other address', async () => {
    const [victim, bystander] = [await enrollDevice(h1, 'robotic_manipulation'), await enrollDevice(h1, 'robotic_manipulation')];
    const attacker = '127.0.0.50';
    // each wrong password names another device: no device id reaches the limit, the address does
    for (const id of [victim.deviceId, bystander.deviceId, victim.deviceId]) expect(await connack(h1, id, newSecret(), attacker)).toBe(4);
    await waitFor(async () => (await connack(h2, bystander.deviceId, bystander.deviceSecret, attacker)) === 3, 5_000);
    expect(await connack(h1, bystander.deviceId, bystander.deviceSecret, '127.0.0.51')).toBe(0);
    expect(await connack(h2, victim.deviceId, victim.deviceSecret, '127.0.0.52')).toBe(0);
    const lockout = await waitFor(async () => (await audit('auth.lockout', attacker, h1.cp.operatorToken))[0], 5_000);
    expect(lockout).toMatchObject({ targetType: 'address', details: { credential: 'device' } });
  });
});
