import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { signingKeyCertMessage, signingKeySerial, type SigningKeyCert } from '@edge-fleet/shared';
import type { z } from 'zod';

/** Anything the control plane signs: base64 of the exact JSON bytes, their signature, and the certified signing key. */
export interface SignedEnvelope {
  payload: string;
  signature: string;
  signingKey: SigningKeyCert;
}

function publicKey(base64Der: string): KeyObject {
  return createPublicKey({ key: Buffer.from(base64Der, 'base64'), format: 'der', type: 'spki' });
}

/**
 * The signed bytes of an envelope, once its chain checks out: the signing key is certified by the
 * root key from enrollment (and not expired, unless `now` is null), its serial is not below
 * `minKeySerial` (a rotated-out key), and the payload is signed by it. `what` names the envelope in
 * messages; `fail` throws the caller's error with the reason.
 */
export function openSignedEnvelope(
  envelope: SignedEnvelope,
  rootPublicKey: string,
  now: number | null,
  what: string,
  fail: (reason: string) => never,
  minKeySerial = 0,
): Buffer {
  const { signingKey } = envelope;
  let root: KeyObject;
  let signer: KeyObject;
  try {
    root = publicKey(rootPublicKey);
    signer = publicKey(signingKey.publicKey);
  } catch {
    return fail(`${what} keys are not valid Ed25519 public keys`);
  }
  const checkSignature = (data: Buffer, signatureB64: string, key: KeyObject, label: string): void => {
    let ok = false;
    try {
      ok = verify(null, data, key, Buffer.from(signatureB64, 'base64'));
    } catch (err) {
      fail(`${label}: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (!ok) fail(`${label} does not verify`);
  };
  checkSignature(
    Buffer.from(signingKeyCertMessage(signingKey)),
    signingKey.rootSignature,
    root,
    'the signing key certificate (root signature)',
  );
  if (now !== null && Date.parse(signingKey.expiresAt) <= now) fail(`the signing key expired at ${signingKey.expiresAt}`);
  const serial = signingKeySerial(signingKey);
  if (serial < minKeySerial)
    fail(`the ${what} is signed by key serial ${serial}, rotated out: this device trusts serial ${minKeySerial} and later`);
  const bytes = Buffer.from(envelope.payload, 'base64');
  checkSignature(bytes, envelope.signature, signer, `the ${what} signature`);
  return bytes;
}

/** `openSignedEnvelope`, then the signed bytes parsed as JSON and validated by `schema`. */
export function readSignedJson<S extends z.ZodType>(
  envelope: SignedEnvelope,
  schema: S,
  rootPublicKey: string,
  now: number | null,
  what: string,
  fail: (reason: string) => never,
  minKeySerial = 0,
): z.infer<S> {
  const bytes = openSignedEnvelope(envelope, rootPublicKey, now, what, fail, minKeySerial);
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch {
    return fail(`the signed ${what} is not JSON`);
  }
  const r = schema.safeParse(parsed);
  if (!r.success) return fail(`the signed ${what} is malformed: ${r.error.issues[0]?.message ?? ''}`);
  return r.data;
}
