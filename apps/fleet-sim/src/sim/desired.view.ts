import { decodeJson, DesiredModelSchema, DesiredStateSchema, EnrollResponseSchema, type SignedDesiredState } from '@edge-fleet/shared';
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

/**
 * The desired state inside a message on the desired topic (parsed against the MQTT contract), which
 * the control plane signs as a whole: read from the signed bytes without checking the signature
 * (simulated devices trust the broker; the real agent verifies). null: not a desired state.
 */
export function readSimDesired(envelope: SignedDesiredState): SimDesiredState | null {
  return SimDesiredStateSchema.safeParse(decodeJson(Buffer.from(envelope.payload, 'base64'))).data ?? null;
}

/** What the simulator keeps from an enrollment answer (the trust anchor is for real agents that verify manifests). */
export const SimEnrollResponseSchema = z.looseObject({
  deviceId: EnrollResponseSchema.shape.deviceId,
  deviceSecret: EnrollResponseSchema.shape.deviceSecret,
  scenario: EnrollResponseSchema.shape.scenario,
  mqtt: EnrollResponseSchema.shape.mqtt,
});
export type SimEnrollResponse = z.infer<typeof SimEnrollResponseSchema>;
