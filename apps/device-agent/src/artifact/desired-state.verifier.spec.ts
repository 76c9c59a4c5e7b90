import { randomUUID } from 'node:crypto';
import type { DesiredState } from '@edge-fleet/shared';
import { describe, expect, it } from 'vitest';
import { TestSigner, UNFETCHED_MODEL } from '../test-support/test-signer.js';
import { verifyDesiredState } from './desired-state.verifier.js';

const deviceId = randomUUID();
const signer = new TestSigner();
const now = new Date();
const ctx = { rootPublicKey: signer.rootPublicKey, deviceId, now };

function state(version: number, over: Partial<DesiredState> = {}): DesiredState {
  return {
    schema: 1,
    deviceId,
    assignmentVersion: version,
    issuedAt: now.toISOString(),
    scenario: 'financial_trading',
    reason: 'verifier unit test',
    model: null,
    runtime: { targetRateHz: 10, windowSeconds: 5, intraOpThreads: 1 },
    ...over,
  };
}

const reencode = (b64: string, edit: (json: string) => string): string =>
  Buffer.from(edit(Buffer.from(b64, 'base64').toString('utf8'))).toString('base64');

describe('issue 10 item 4: desired-state verifier', () => {
  it('returns the state read from the signed bytes, with its high-water mark and expiry', () => {
    const model = signer.signed(modelFields, deviceId, 4);
    const got = verifyDesiredState(signer.desired(state(4, { model })), ctx);
    expect(got).toMatchObject({ deviceId, assignmentVersion: 4, highWaterMark: 4, model: { sha256: modelFields.sha256 } });
  });

  it('a runtime setting this agent does not know (a newer control plane’s) is stripped and named, not a refusal', () => {
    const newer = state(4);
    const runtime = { ...newer.runtime, futureKnob: { level: 3 }, anotherOne: true };
    const seen: string[][] = [];
    const got = verifyDesiredState(signer.desired({ ...newer, runtime }), {
      ...ctx,
      onUnknownRuntimeFields: (f) => seen.push(f),
    });
    expect(got.runtime).toEqual(newer.runtime);
    expect(seen).toEqual([['futureKnob', 'anotherOne']]);
  });

  it('an unknown field outside the runtime settings is still refused (only runtime fields are optional by contract)', () => {
    expect(() => verifyDesiredState(signer.desired({ ...state(4), surprise: 1 } as DesiredState), ctx)).toThrow(/surprise|unrecognized/i);
  });

  it('accepts a number at or below the signed high-water mark', () => {
    expect(verifyDesiredState(signer.desired(state(3), { highWaterMark: 9 }), ctx).assignmentVersion).toBe(3);
  });

  it.each<[string, () => unknown, RegExp]>([
    ['an unsigned desired state (`model: null`)', () => state(4), /^the desired state is not signed$/],
    ['something that is neither', () => ({ hello: 'world' }), /^not a signed desired state/],
    ['a state signed for another device', () => signer.desired(state(4, { deviceId: randomUUID() })), /signed for another device/],
    [
      'an expired state',
      () => signer.desired(state(4), { expiresAt: new Date(now.getTime() - 1).toISOString() }),
      /the desired state expired at/,
    ],
    ['a state expiring at this very instant', () => signer.desired(state(4), { expiresAt: now.toISOString() }), /expired/],
    [
      'a number above the signed high-water mark (2,147,483,647)',
      () => signer.desired(state(2_147_483_647), { highWaterMark: 4 }),
      /assignment 2147483647 is above the control plane's signed high-water mark 4/,
    ],
    ['a signing key the root never certified', () => new TestSigner().desired(state(4)), /root signature/],
    [
      'a payload edited after signing',
      () => {
        const e = signer.desired(state(4));
        return { ...e, payload: reencode(e.payload, (j) => j.replace('"assignmentVersion":4', '"assignmentVersion":5')) };
      },
      /the desired state signature does not verify/,
    ],
    [
      'the signed fields in the clear beside a genuine signature',
      () => ({ ...signer.desired(state(4)), assignmentVersion: 9 }),
      /not a signed desired state/,
    ],
    ['an expired signing key', () => signer.desired(state(4), {}, new Date(now.getTime() - 1).toISOString()), /the signing key expired/],
  ])('row 6/7: refuses %s', (_what, message, reason) => {
    expect(() => verifyDesiredState(message(), ctx)).toThrow(reason);
  });
});

const modelFields = UNFETCHED_MODEL;

describe('signing-key rotation: keys below the device’s floor are refused', () => {
  const rotated = signer.rotated();

  it('a state under the rotated key (serial 2) is accepted, with or without a floor', () => {
    expect(rotated.serial).toBe(2);
    expect(verifyDesiredState(rotated.desired(state(5)), { ...ctx, minKeySerial: 2 }).assignmentVersion).toBe(5);
    expect(verifyDesiredState(rotated.desired(state(5)), ctx).assignmentVersion).toBe(5);
  });

  it('once the device trusts serial 2, a genuine state under the old key (a certificate without a serial = 1) is refused', () => {
    expect(verifyDesiredState(signer.desired(state(6)), { ...ctx, minKeySerial: 1 }).assignmentVersion).toBe(6);
    expect(() => verifyDesiredState(signer.desired(state(6)), { ...ctx, minKeySerial: 2 })).toThrow(
      /signed by key serial 1, rotated out: this device trusts serial 2 and later/,
    );
  });

  it('a serial cannot be raised without the root: editing it breaks the certificate’s root signature', () => {
    const msg = signer.desired(state(7));
    const forged = { ...msg, signingKey: { ...msg.signingKey, serial: 9 } };
    expect(() => verifyDesiredState(forged, { ...ctx, minKeySerial: 2 })).toThrow(/root signature\) does not verify/);
  });
});
