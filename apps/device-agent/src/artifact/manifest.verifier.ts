import { ManifestPayloadSchema, type DesiredModel, type ManifestPayload } from '@edge-fleet/shared';
import { ArtifactError } from './artifact.downloader.js';
import { readSignedJson } from './signed-envelope.js';

function fail(message: string): never {
  throw new ArtifactError('signature_invalid', message);
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
  const m = readSignedJson(model.manifest, ManifestPayloadSchema, ctx.rootPublicKey, now, 'manifest', fail);
  if (m.deviceId !== ctx.deviceId) fail('the manifest was issued for another device');
  if (now !== null && Date.parse(m.expiresAt) <= now) fail(`the manifest expired at ${m.expiresAt}`);
  const mismatched = (['sha256', 'sizeBytes', 'variantId', 'modelVersionId', 'precision'] as const).filter((k) => m[k] !== model[k]);
  if (mismatched.length > 0) fail(`the desired state does not match its signed manifest (${mismatched.join(', ')})`);
  return m;
}
