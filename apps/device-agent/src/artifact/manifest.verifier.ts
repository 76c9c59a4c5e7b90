import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { ManifestPayloadSchema, type DesiredModel, type ManifestPayload } from '@edge-fleet/shared';
import { ArtifactError } from './artifact.downloader.js';

function publicKey(base64Der: string): KeyObject {
  return createPublicKey({ key: Buffer.from(base64Der, 'base64'), format: 'der', type: 'spki' });
}

function fail(message: string): never {
  throw new ArtifactError('signature_invalid', message);
}

function checkSignature(data: Buffer, signatureB64: string, key: KeyObject, what: string): void {
  let ok = false;
  try {
    ok = verify(null, data, key, Buffer.from(signatureB64, 'base64'));
  } catch (err) {
    fail(`${what}: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!ok) fail(`${what} does not verify`);
}

export interface TrustContext {
  /** base64 DER (SPKI) of the root key from enrollment. */
  rootPublicKey: string;
  deviceId: string;
}

/**
 * Checks a desired model's signed manifest before anything is downloaded or parsed: the signing
 * key is certified by the root key from enrollment and not expired, the manifest is signed by it,
 * is for this device, has not expired, and names exactly the artifact the desired state points at.
 */
export function verifyManifest(model: DesiredModel, ctx: TrustContext & { now: Date }): ManifestPayload {
  return checkManifest(model, ctx, ctx.now.getTime());
}

/**
 * Every check of `verifyManifest` except the two expiries: whether the manifest is genuine, not
 * whether it is still valid. The stale-metadata check reads expiry only from a genuine manifest.
 */
export function authenticateManifest(model: DesiredModel, ctx: TrustContext): ManifestPayload {
  return checkManifest(model, ctx, null);
}

/** `now` null: expiry is not checked. */
function checkManifest(model: DesiredModel, ctx: TrustContext, now: number | null): ManifestPayload {
  const { signingKey } = model.manifest;
  let root: KeyObject;
  let signer: KeyObject;
  try {
    root = publicKey(ctx.rootPublicKey);
    signer = publicKey(signingKey.publicKey);
  } catch {
    return fail('manifest keys are not valid Ed25519 public keys');
  }
  checkSignature(
    Buffer.from(`${signingKey.publicKey}.${signingKey.expiresAt}`),
    signingKey.rootSignature,
    root,
    'the signing key certificate (root signature)',
  );
  if (now !== null && Date.parse(signingKey.expiresAt) <= now) fail(`the signing key expired at ${signingKey.expiresAt}`);
  const bytes = Buffer.from(model.manifest.payload, 'base64');
  checkSignature(bytes, model.manifest.signature, signer, 'the manifest signature');
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch {
    return fail('the signed manifest is not JSON');
  }
  const r = ManifestPayloadSchema.safeParse(parsed);
  if (!r.success) return fail(`the signed manifest is malformed: ${r.error.issues[0]?.message ?? ''}`);
  const m = r.data;
  if (m.deviceId !== ctx.deviceId) fail('the manifest was issued for another device');
  if (now !== null && Date.parse(m.expiresAt) <= now) fail(`the manifest expired at ${m.expiresAt}`);
  const mismatched = (['sha256', 'sizeBytes', 'variantId', 'modelVersionId', 'precision'] as const).filter((k) => m[k] !== model[k]);
  if (mismatched.length > 0) fail(`the desired state does not match its signed manifest (${mismatched.join(', ')})`);
  return m;
}
