import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { TestSigner, UNFETCHED_MODEL } from '../test-support/test-signer.js';
import { ArtifactError } from './artifact.downloader.js';
import { verifyManifest } from './manifest.verifier.js';

const deviceId = randomUUID();
const signer = new TestSigner();
const ctx = { rootPublicKey: signer.rootPublicKey, deviceId, now: new Date(), hardwareClass: 'jetson-orin-nano' };

const modelFields = UNFETCHED_MODEL;

function refusal(run: () => unknown): ArtifactError {
  try {
    run();
  } catch (e) {
    if (e instanceof ArtifactError) return e;
    throw e;
  }
  throw new Error('the manifest was accepted');
}

describe("issue 12: the agent checks the signed manifest's hardware classes", () => {
  it('a manifest naming only other hardware classes is refused with hardware_mismatch, naming both sides', () => {
    const model = signer.signed(modelFields, deviceId, 3, { hardwareClasses: ['rpi5', 'x86-server'] });
    const e = refusal(() => verifyManifest(model, ctx));
    expect(e.reasonCode).toBe('hardware_mismatch');
    expect(e.message).toBe('the signed manifest is for hardware class rpi5, x86-server; this device is jetson-orin-nano');
  });

  it("a manifest naming this device's class among others is accepted", () => {
    const model = signer.signed(modelFields, deviceId, 3, { hardwareClasses: ['rpi5', 'jetson-orin-nano'] });
    expect(verifyManifest(model, ctx).hardwareClasses).toEqual(['rpi5', 'jetson-orin-nano']);
  });

  it('an empty list means every class', () => {
    expect(verifyManifest(signer.signed(modelFields, deviceId, 3), ctx).hardwareClasses).toEqual([]);
  });
});
