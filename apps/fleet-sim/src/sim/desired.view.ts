import { DesiredModelSchema, DesiredStateSchema, EnrollResponseSchema, SignedDesiredStateSchema } from '@edge-fleet/shared';
import { z } from 'zod';

/**
 * The part of a desired state a virtual device acts on, with the shared contract's field shapes.
 * Loose on purpose: a simulated device does not verify signatures or read input specs, so fields
 * it never uses (the signed manifest, inputs) neither break it nor need simulating.
 */
export const SimDesiredModelSchema = z.looseObject({
  modelVersionId: DesiredModelSchema.shape.modelVersionId,
  variantId: DesiredModelSchema.shape.variantId,
  precision: DesiredModelSchema.shape.precision,
  sha256: DesiredModelSchema.shape.sha256,
  sizeBytes: DesiredModelSchema.shape.sizeBytes,
});
export type SimDesiredModel = z.infer<typeof SimDesiredModelSchema>;

export const SimDesiredStateSchema = z.looseObject({
  schema: DesiredStateSchema.shape.schema,
  deviceId: DesiredStateSchema.shape.deviceId,
  assignmentVersion: DesiredStateSchema.shape.assignmentVersion,
  scenario: DesiredStateSchema.shape.scenario,
  model: SimDesiredModelSchema.nullable(),
  runtime: DesiredStateSchema.shape.runtime,
});
export type SimDesiredState = z.infer<typeof SimDesiredStateSchema>;

const SimSignedDesiredSchema = z.looseObject({ payload: SignedDesiredStateSchema.shape.payload });

/**
 * The desired state inside a message on the desired topic, which the control plane signs as a
 * whole: read from the signed bytes without checking the signature (simulated devices trust the
 * broker; the real agent verifies). null: not a signed desired state.
 */
export function readSimDesired(message: unknown): SimDesiredState | null {
  const envelope = SimSignedDesiredSchema.safeParse(message);
  if (!envelope.success) return null;
  let inner: unknown;
  try {
    inner = JSON.parse(Buffer.from(envelope.data.payload, 'base64').toString('utf8'));
  } catch {
    return null;
  }
  return SimDesiredStateSchema.safeParse(inner).data ?? null;
}

/** What the simulator keeps from an enrollment answer (the trust anchor is for real agents that verify manifests). */
export const SimEnrollResponseSchema = z.looseObject({
  deviceId: EnrollResponseSchema.shape.deviceId,
  deviceSecret: EnrollResponseSchema.shape.deviceSecret,
  scenario: EnrollResponseSchema.shape.scenario,
  mqtt: EnrollResponseSchema.shape.mqtt,
});
export type SimEnrollResponse = z.infer<typeof SimEnrollResponseSchema>;
