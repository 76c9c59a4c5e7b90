import { createPublicKey, verify } from 'node:crypto';
import {
  DesiredStatePayloadSchema,
  ForwardingGrantPayloadSchema,
  SignedDesiredStateSchema,
  signingKeyCertMessage,
  signingKeySerial,
  type DesiredStatePayload,
  type ForwardingGrantPayload,
  type SignedForwardingGrant,
} from '@edge-fleet/shared';

const spki = (b64: string) => createPublicKey({ key: Buffer.from(b64, 'base64'), format: 'der', type: 'spki' });
const checks = (data: string | Buffer, signature: string, keyB64: string): boolean =>
  verify(null, Buffer.from(data), spki(keyB64), Buffer.from(signature, 'base64'));

/**
 * What a device does with a message on its desired topic, for control-plane tests: the envelope
 * must be signed by a key the enrollment's root certified, and the state is read only from the
 * signed bytes. Throws otherwise, so a publish path that forgot to sign shows up in any test.
 */
export function openSignedDesired(message: Buffer, rootPublicKey: string): DesiredStatePayload {
  const envelope = SignedDesiredStateSchema.parse(JSON.parse(message.toString('utf8')));
  const { publicKey, rootSignature } = envelope.signingKey;
  if (!checks(signingKeyCertMessage(envelope.signingKey), rootSignature, rootPublicKey))
    throw new Error('signing key not certified by the root');
  const bytes = Buffer.from(envelope.payload, 'base64');
  if (!checks(bytes, envelope.signature, publicKey)) throw new Error('desired state signature does not verify');
  return DesiredStatePayloadSchema.parse(JSON.parse(bytes.toString('utf8')));
}

/** A hybrid device's forwarding grant checked as a cloud node checks it (chain up to the root, then the payload). */
export function openSignedGrant(grant: SignedForwardingGrant, rootPublicKey: string): ForwardingGrantPayload {
  const { publicKey, rootSignature } = grant.signingKey;
  if (!checks(signingKeyCertMessage(grant.signingKey), rootSignature, rootPublicKey))
    throw new Error('signing key not certified by the root');
  const bytes = Buffer.from(grant.payload, 'base64');
  if (!checks(bytes, grant.signature, publicKey)) throw new Error('forwarding grant signature does not verify');
  return ForwardingGrantPayloadSchema.parse(JSON.parse(bytes.toString('utf8')));
}

/** The serial of the signing key a desired-state message was signed with (after `openSignedDesired` accepted it). */
export function desiredKeySerial(message: Buffer): number {
  return signingKeySerial(SignedDesiredStateSchema.parse(JSON.parse(message.toString('utf8'))).signingKey);
}
