import { DesiredStatePayloadSchema, DesiredStateSchema, SignedDesiredStateSchema, type DesiredStatePayload } from '@edge-fleet/shared';
import { readSignedJson } from './signed-envelope.js';
import type { TrustContext } from './manifest.verifier.js';

/** A message on the desired topic that the agent will not act on; `message` says why. */
export class DesiredStateRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DesiredStateRefused';
  }
}

function refuse(reason: string): never {
  throw new DesiredStateRefused(reason);
}

/**
 * Everything a desired state must prove before the agent acts on it, whoever could write to the
 * broker (issue 10 item 4): it is signed as a whole by a key the root from enrollment certified,
 * the state is read only from the signed bytes, it is for this device, it has not expired, and its
 * assignment number is not above the high-water mark the control plane signed with it — so not even
 * a genuine key can be made to raise the watermark past what the control plane issued, and its key
 * is not one rotated out (`minKeySerial`, see KeyFloor). Manifests are not held to the floor: they
 * are trusted only inside a desired state that was. Ordering against the watermark is the
 * reconciler's job (`acceptDesired`). Throws DesiredStateRefused.
 */
export function verifyDesiredState(message: unknown, ctx: TrustContext & { now: Date; minKeySerial?: number }): DesiredStatePayload {
  const envelope = SignedDesiredStateSchema.safeParse(message);
  if (!envelope.success) {
    return refuse(
      DesiredStateSchema.safeParse(message).success
        ? 'the desired state is not signed'
        : `not a signed desired state: ${envelope.error.issues[0]?.message ?? 'malformed'}`,
    );
  }
  const now = ctx.now.getTime();
  const d = readSignedJson(envelope.data, DesiredStatePayloadSchema, ctx.rootPublicKey, now, 'desired state', refuse, ctx.minKeySerial);
  if (d.deviceId !== ctx.deviceId) refuse(`the desired state was signed for another device (${d.deviceId})`);
  if (Date.parse(d.expiresAt) <= now) refuse(`the desired state expired at ${d.expiresAt}`);
  if (d.assignmentVersion > d.highWaterMark) {
    refuse(`assignment ${d.assignmentVersion} is above the control plane's signed high-water mark ${d.highWaterMark}`);
  }
  return d;
}
