import { hardwarePreset, topics, type EnrollResponse } from '@edge-fleet/shared';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectDevice } from '../test-support/device-client.js';
import { jsonPost, queryRows, startHarnessOn, waitFor, type Harness } from '../test-support/harness.js';

/**
 * M2: an enrollment whose answer was lost on the way (a cut link, a timeout) can be tried again.
 * The agent keeps its enrollment's `requestId` on disk until it has its credentials; a try with the
 * same token and id is the same enrollment: the same device, a new secret (the first one, never
 * received, is refused from then on), and no second use of the token. Once the device has connected
 * its credentials evidently reached it, and a repeated try is refused. Real control plane and
 * Postgres, on both brokers (Mosquitto's dynsec client gets the new password).
 */
for (const kind of ['embedded', 'mosquitto'] as const)
  describe(`M2: enrollment tried again after a lost answer (${kind} broker)`, () => {
    let h: Harness;
    beforeAll(async () => {
      h = await startHarnessOn(kind);
    }, 90_000);
    afterAll(async () => {
      await h?.close();
    });

    retryTests(() => h);
  });

function retryTests(harness: () => Harness): void {
  const token = async (maxUses = 1): Promise<string> => {
    const res = await jsonPost(harness(), '/api/v1/enrollment-tokens', { scenario: 'robotic_manipulation', maxUses });
    expect(res.status).toBe(201);
    return ((await res.json()) as { token: string }).token;
  };
  const enroll = (body: Record<string, unknown>) =>
    jsonPost(harness(), '/api/v1/devices/enroll', { hardwareProfile: hardwarePreset('robot-npu-arm'), ...body }, false);
  const connects = (e: Pick<EnrollResponse, 'deviceId' | 'deviceSecret'>) =>
    connectDevice(harness(), e, { will: false }).then(
      (c) => {
        c.end(true);
        return true;
      },
      () => false,
    );
  const uses = async (t: string) =>
    (
      await queryRows<{ uses: number }>(
        harness(),
        `SELECT uses FROM "EnrollmentToken" WHERE "tokenHash" = encode(sha256($1::bytea), 'hex')`,
        [Buffer.from(t)],
      )
    )[0]?.uses;
  const lastSeen = async (deviceId: string) =>
    (await queryRows<{ lastSeenAt: Date | null }>(harness(), 'SELECT "lastSeenAt" FROM "Device" WHERE id = $1', [deviceId]))[0]?.lastSeenAt;

  it('the same requestId again (answer lost): same device, new secret, the first refused, the token used once; audited', async () => {
    const t = await token(1);
    const requestId = randomUUID();
    const first = await enroll({ token: t, requestId, name: 'arm-lost-answer' });
    expect(first.status).toBe(201);
    const lost = (await first.json()) as EnrollResponse; // the device never read this answer

    const again = await enroll({ token: t, requestId, name: 'arm-lost-answer' });
    expect(again.status, await again.clone().text()).toBe(201);
    const got = (await again.json()) as EnrollResponse;
    expect(got.deviceId).toBe(lost.deviceId);
    expect(got.scenario).toBe('robotic_manipulation');
    expect(got.mqtt.username).toBe(lost.deviceId);
    expect(got.deviceSecret).not.toBe(lost.deviceSecret);
    expect(await uses(t)).toBe(1);
    const devices = await queryRows(harness(), 'SELECT id FROM "Device" WHERE "enrollmentRequestId" = $1', [requestId]);
    expect(devices).toHaveLength(1);

    expect(await connects(lost)).toBe(false);
    expect(await connects(got)).toBe(true);
    const audit = await queryRows<{ action: string; actor: string }>(
      harness(),
      `SELECT action, actor FROM "AuditEvent" WHERE "targetId" = $1 ORDER BY id`,
      [got.deviceId],
    );
    expect(audit.map((r) => r.action)).toEqual(['device.enroll', 'device.enroll_retry']);
    expect(audit[1]?.actor).toMatch(/^enrollment_token:/);
  });

  it('refused (409, naming the device) once the device has connected; its secret and the token stay as they are', async () => {
    const t = await token(1);
    const requestId = randomUUID();
    const e = (await (await enroll({ token: t, requestId })).json()) as EnrollResponse;
    // as the agent does: connects and says it is online (on Mosquitto the control plane sees only messages)
    const device = await connectDevice(harness(), e, { will: false });
    await device.publishAsync(topics.status(e.deviceId), JSON.stringify({ state: 'online', bootId: randomUUID() }), { qos: 1 });
    await waitFor(async () => (await lastSeen(e.deviceId)) != null, 10_000, 'the device seen');
    await device.endAsync();
    const hash = async () =>
      (await queryRows<{ h: string }>(harness(), 'SELECT "secretHash" AS h FROM "Device" WHERE id = $1', [e.deviceId]))[0]?.h;
    const before = await hash();

    const again = await enroll({ token: t, requestId });
    expect(again.status).toBe(409);
    const body = (await again.json()) as { error: { code: string; message: string; details: { deviceId: string } } };
    expect(body.error.code).toBe('conflict');
    expect(body.error.message).toContain(e.deviceId);
    expect(body.error.message).toContain('has connected since');
    expect(body.error.details.deviceId).toBe(e.deviceId);
    expect(await hash()).toBe(before);
    expect(await uses(t)).toBe(1);
    expect(await connects(e)).toBe(true);
  });

  it('another requestId on a used-up token is a new enrollment, refused (401); other hardware or a revoked device: 409', async () => {
    const t = await token(1);
    const requestId = randomUUID();
    const e = (await (await enroll({ token: t, requestId })).json()) as EnrollResponse;

    const other = await enroll({ token: t, requestId: randomUUID() });
    expect(other.status).toBe(401);
    expect(await other.text()).toContain('already been used');

    const hardware = await enroll({ token: t, requestId, hardwareProfile: hardwarePreset('cloud-cpu-node') });
    expect(hardware.status).toBe(409);
    expect(await hardware.text()).toContain('another hardware profile');

    expect((await jsonPost(harness(), `/api/v1/devices/${e.deviceId}/revoke`, {})).status).toBe(200);
    const revoked = await enroll({ token: t, requestId });
    expect(revoked.status).toBe(409);
    expect(await revoked.text()).toContain('revoked');
    expect(await connects(e)).toBe(false);
  });

  it('two first tries of one requestId at once make one device and take one use; the other is told to try again', async () => {
    const t = await token(5);
    const requestId = randomUUID();
    const answers = await Promise.all([enroll({ token: t, requestId }), enroll({ token: t, requestId })]);
    const statuses = answers.map((r) => r.status).sort();
    // the second either waited for the first and retried it (201, same device) or met it under way (409)
    expect([
      [201, 201],
      [201, 409],
    ]).toContainEqual(statuses);
    const devices = await queryRows(harness(), 'SELECT id FROM "Device" WHERE "enrollmentRequestId" = $1', [requestId]);
    expect(devices).toHaveLength(1);
    expect(await uses(t)).toBe(1);
    const again = await enroll({ token: t, requestId });
    expect(again.status).toBe(201);
    expect(((await again.json()) as EnrollResponse).deviceId).toBe((devices[0] as { id: string }).id);
  });
}
