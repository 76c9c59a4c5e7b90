import { createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import {
  signingKeyCertMessage,
  signingKeySerial,
  type DesiredModel,
  type DesiredState,
  type DesiredStatePayload,
  type ForwardingGrantPayload,
  type ManifestPayload,
  type SignedDesiredState,
  type SignedForwardingGrant,
  type SignedManifest,
} from '@edge-fleet/shared';

const spki = (k: KeyObject): string => createPublicKey(k).export({ type: 'spki', format: 'der' }).toString('base64');

/** A root and signing key pair that sign manifests the way the control plane does. */
export class TestSigner {
  readonly signing = generateKeyPairSync('ed25519').privateKey;

  /** `serial` undefined: a certificate from before key rotation existed (serial 1). */
  constructor(
    readonly root = generateKeyPairSync('ed25519').privateKey,
    readonly serial?: number,
  ) {}

  /** The control plane after a key rotation: the same root, a new signing key under the next serial. */
  rotated(): TestSigner {
    return new TestSigner(this.root, signingKeySerial({ serial: this.serial }) + 1);
  }

  get rootPublicKey(): string {
    return spki(this.root);
  }

  manifest(payload: ManifestPayload, keyExpiresAt = new Date(Date.now() + 86_400_000).toISOString()): SignedManifest {
    return this.envelope(payload, keyExpiresAt);
  }

  /**
   * A desired state signed as a whole, as the control plane publishes it: by default its own number is
   * the high-water mark and it expires in a day; `over` changes the signed payload (to forge).
   */
  desired(
    state: DesiredState,
    over: Partial<Omit<DesiredStatePayload, keyof DesiredState>> = {},
    keyExpiresAt?: string,
  ): SignedDesiredState {
    const now = Date.now();
    const payload = {
      ...state,
      highWaterMark: state.assignmentVersion,
      signedAt: new Date(now).toISOString(),
      expiresAt: new Date(now + 86_400_000).toISOString(),
      ...over,
    };
    return this.envelope(payload, keyExpiresAt);
  }

  /** A forwarding grant for a hybrid device, signed as the control plane signs it (`over` forges or expires it). */
  grant(deviceId: string, scenario: ForwardingGrantPayload['scenario'], over: Partial<ForwardingGrantPayload> = {}): SignedForwardingGrant {
    const now = Date.now();
    return this.envelope({
      schema: 1,
      kind: 'oip-forward',
      scenario,
      deviceId,
      issuedAt: new Date(now).toISOString(),
      expiresAt: new Date(now + 600_000).toISOString(),
      ...over,
    });
  }

  private envelope(value: unknown, keyExpiresAt = new Date(Date.now() + 86_400_000).toISOString()): SignedManifest {
    const publicKey = spki(this.signing);
    const bytes = Buffer.from(JSON.stringify(value));
    return {
      payload: bytes.toString('base64'),
      signature: sign(null, bytes, this.signing).toString('base64'),
      signingKey: {
        publicKey,
        expiresAt: keyExpiresAt,
        ...(this.serial === undefined ? {} : { serial: this.serial }),
        rootSignature: sign(
          null,
          Buffer.from(signingKeyCertMessage({ publicKey, expiresAt: keyExpiresAt, serial: this.serial })),
          this.root,
        ).toString('base64'),
      },
    };
  }

  /** Signs a model for a device; `over` changes the signed payload (to forge mismatches). */
  signed(model: Omit<DesiredModel, 'manifest'>, deviceId: string, version: number, over: Partial<ManifestPayload> = {}): DesiredModel {
    const now = Date.now();
    return {
      ...model,
      manifest: this.manifest({
        schema: 1,
        deviceId,
        modelVersionId: model.modelVersionId,
        variantId: model.variantId,
        precision: model.precision,
        sha256: model.sha256,
        sizeBytes: model.sizeBytes,
        version,
        hardwareClasses: [],
        issuedAt: new Date(now).toISOString(),
        expiresAt: new Date(now + 86_400_000).toISOString(),
        ...over,
      }),
    };
  }
}

/** A desired model's fields (no manifest) for verifier tests: its artifact is never fetched. */
export const UNFETCHED_MODEL: Omit<DesiredModel, 'manifest'> = {
  modelId: 'm',
  modelVersionId: 'mv',
  variantId: 'v',
  name: 'mlp',
  version: '1',
  precision: 'fp32',
  artifactUrl: 'http://127.0.0.1:9/a.onnx',
  sha256: 'a'.repeat(64),
  sizeBytes: 10,
  inputs: [{ name: 'x', dtype: 'float32', shape: [1, 4] }],
};

/** A structurally valid manifest for tests that never verify it (planner). */
export const UNCHECKED_MANIFEST: SignedManifest = {
  payload: 'e30=',
  signature: 'AA==',
  signingKey: { publicKey: 'AA==', expiresAt: '2099-01-01T00:00:00.000Z', rootSignature: 'AA==' },
};
