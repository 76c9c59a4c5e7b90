import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditPageSchema, SigningKeyRotationSchema, SigningKeyStatusSchema } from '@edge-fleet/shared/api';
import { jsonPost, setScenarioModel, startHarness, uploadMlp, waitFor, type Harness } from '../test-support/harness.js';
import { VirtualDevice } from '../test-support/virtual-device.js';

/**
 * Signing-key rotation on the real control plane (Postgres, Redis, embedded broker) with devices
 * that verify every desired state up to the root key from their enrollment: a rotation is audited
 * and every device is sent its stored state again, signed under the next serial (the real agent's
 * refusal of the old key afterwards is covered in the agent's verifier and key-floor tests).
 */
let h: Harness;
let devices: VirtualDevice[] = [];

beforeAll(async () => {
  h = await startHarness();
  const v = await uploadMlp(h, 'rotation', '1', 21);
  await setScenarioModel(h, 'financial_trading', v.id);
  devices = [
    await VirtualDevice.start(h, 'financial_trading', 'edge-npu-trading'),
    await VirtualDevice.start(h, 'financial_trading', 'edge-npu-trading'),
  ];
  for (const d of devices) await waitFor(() => Promise.resolve(d.applied ?? undefined), 15_000, 'a desired state applied');
}, 60_000);

afterAll(async () => {
  for (const d of devices) await d.stop();
  await h.close();
});

describe('signing-key rotation (M17)', () => {
  it('refuses a rotation without a reason, naming the field, and changes nothing', async () => {
    const res = await jsonPost(h, '/api/v1/signing-key/rotate', {});
    expect(res.status).toBe(400);
    expect(await res.text()).toMatch(/reason/);
    const status = SigningKeyStatusSchema.parse(await (await h.api('/api/v1/signing-key')).json());
    expect(status.serial).toBe(1);
  });

  it('certifies the next serial, audits it with the reason, and re-sends every device its state signed with the new key', async () => {
    const before = SigningKeyStatusSchema.parse(await (await h.api('/api/v1/signing-key')).json());
    const versions = devices.map((d) => d.applied);
    const res = await jsonPost(h, '/api/v1/signing-key/rotate', { reason: 'drill: suspected leak on api-2' });
    expect(res.status).toBe(200);
    const rotated = SigningKeyRotationSchema.parse(await res.json());
    expect(rotated).toMatchObject({ previousSerial: 1, serial: 2, rootPublicKey: before.rootPublicKey, republished: 2 });
    expect(rotated.publicKey).not.toBe(before.publicKey);
    // each device accepts (root-verified) a state under serial 2, for the assignment it already runs
    for (const [i, d] of devices.entries()) {
      await waitFor(() => Promise.resolve(d.keySerials.includes(2) || undefined), 10_000, 'a state signed under serial 2');
      expect(d.keySerials[0]).toBe(1);
      expect(d.received.at(-1)?.assignmentVersion).toBe(versions[i]);
      expect(d.errors).toEqual([]);
    }
    const audit = AuditPageSchema.parse(await (await h.api('/api/v1/audit?action=signing.key_rotated')).json());
    expect(audit.items).toHaveLength(1);
    expect(audit.items[0]).toMatchObject({
      targetType: 'signing_key',
      targetId: '2',
      details: { previousSerial: 1, serial: 2, reason: 'drill: suspected leak on api-2' },
    });
    // what is issued from now on is signed under serial 2 as well (a new enrollment's first state)
    const late = await VirtualDevice.start(h, 'financial_trading', 'edge-npu-trading');
    devices.push(late);
    await waitFor(() => Promise.resolve(late.keySerials[0]), 15_000, 'the new device state');
    expect(late.keySerials[0]).toBe(2);
  }, 60_000);
});
