import {
  DesiredStatePayloadSchema,
  DesiredStateSchema,
  RuntimeSettingsSchema,
  SignedDesiredStateSchema,
  type DesiredStatePayload,
} from '@edge-fleet/shared';
import { z } from 'zod';
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
 * The desired state as this agent reads it: strict everywhere but in `runtime`, whose fields a newer
 * control plane may add (only ever optional ones, RuntimeSettingsSchema's contract). Those this agent
 * does not know are kept here and stripped below, so a new setting never makes an older agent refuse
 * its desired state and keep a model it was told to replace.
 */
const AgentDesiredPayloadSchema = DesiredStatePayloadSchema.extend({ runtime: z.looseObject(RuntimeSettingsSchema.shape) });
const KNOWN_RUNTIME_FIELDS = new Set(Object.keys(RuntimeSettingsSchema.shape));

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
export function verifyDesiredState(
  message: unknown,
  ctx: TrustContext & { now: Date; minKeySerial?: number; onUnknownRuntimeFields?: (names: string[]) => void },
): DesiredStatePayload {
  const envelope = SignedDesiredStateSchema.safeParse(message);
  if (!envelope.success) {
    return refuse(
      DesiredStateSchema.safeParse(message).success
        ? 'the desired state is not signed'
        : `not a signed desired state: ${envelope.error.issues[0]?.message ?? 'malformed'}`,
    );
  }
  const now = ctx.now.getTime();
  const loose = readSignedJson(envelope.data, AgentDesiredPayloadSchema, ctx.rootPublicKey, now, 'desired state', refuse, ctx.minKeySerial);
  const unknown = Object.keys(loose.runtime).filter((k) => !KNOWN_RUNTIME_FIELDS.has(k));
  if (unknown.length > 0) ctx.onUnknownRuntimeFields?.(unknown);
  const d: DesiredStatePayload = { ...loose, runtime: RuntimeSettingsSchema.parse(stripped(loose.runtime, unknown)) };
  if (d.deviceId !== ctx.deviceId) refuse(`the desired state was signed for another device (${d.deviceId})`);
  if (Date.parse(d.expiresAt) <= now) refuse(`the desired state expired at ${d.expiresAt}`);
  if (d.assignmentVersion > d.highWaterMark) {
    refuse(`assignment ${d.assignmentVersion} is above the control plane's signed high-water mark ${d.highWaterMark}`);
  }
  return d;
}

function stripped(runtime: Record<string, unknown>, unknown: readonly string[]): Record<string, unknown> {
  const out = { ...runtime };
  for (const k of unknown) Reflect.deleteProperty(out, k);
  return out;
}
