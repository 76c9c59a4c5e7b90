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
 * is for this device, has not expired, names exactly the artifact the desired state points at, and
 * is meant for this device's hardware class (TUF custom target metadata: an empty list means every
 * class; a list without ours is refused with `hardware_mismatch`, whatever the desired state says).
 */
export function verifyManifest(model: DesiredModel, ctx: TrustContext & { now: Date; hardwareClass: string }): ManifestPayload {
  const m = checkManifest(model, ctx, ctx.now.getTime());
  if (m.hardwareClasses.length > 0 && !m.hardwareClasses.includes(ctx.hardwareClass))
    throw new ArtifactError(
      'hardware_mismatch',
      `the signed manifest is for hardware class ${m.hardwareClasses.join(', ')}; this device is ${ctx.hardwareClass}`,
    );
  return m;
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
