import { InputSpecListSchema, TensorDtypeSchema } from '@edge-fleet/shared';
import { z } from 'zod';
import type { TensorData } from './input.generator.js';
import { isModelSignature, isServedTensorMap, type ModelSignature, type ServedTensor } from './served-tensor.js';

/**
 * Messages between the main thread and the inference worker; both sides validate what they receive.
 * These schemas are the reference; the hot path (run requests, run results without capture) and the
 * worker, which starts without zod to save its isolate ~14 MB, use the hand checks in worker.checks.ts,
 * which worker.checks.spec.ts holds equal to these schemas.
 */
export const TensorValueSchema = z.strictObject({
  dtype: TensorDtypeSchema,
  dims: z.array(z.int().min(0)),
  data: z.custom<TensorData>(
    (v) =>
      v instanceof Float32Array ||
      v instanceof BigInt64Array ||
      v instanceof Int32Array ||
      v instanceof Uint8Array ||
      v instanceof Int8Array,
  ),
});

const TensorMapSchema = z.record(z.string(), TensorValueSchema);
/** Application tensors of the local inference API (checked by hand, shared with the worker). */
const ServedTensorMapSchema = z.custom<Record<string, ServedTensor>>(isServedTensorMap);

export const ToWorkerSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('load'),
    path: z.string().min(1),
    inputs: InputSpecListSchema,
    intraOpThreads: z.int().min(1).max(64),
    seed: z.int(),
    /** Set when a model served inline moves to the worker: its recurrent state; no calibration then. */
    handover: TensorMapSchema.optional(),
  }),
  z.strictObject({ type: z.literal('run'), id: z.int(), capture: z.boolean() }),
  z.strictObject({ type: z.literal('infer'), id: z.int(), inputs: ServedTensorMapSchema }),
  z.strictObject({ type: z.literal('dispose') }),
]);
export type ToWorker = z.infer<typeof ToWorkerSchema>;

export const FromWorkerSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('loaded'),
    inputNames: z.array(z.string()),
    outputNames: z.array(z.string()),
    /** The model's measured load and run times, from which the engine decides where it runs (inline-placement.ts). */
    calibration: z.strictObject({ loadMs: z.number().min(0), latenciesMs: z.array(z.number().min(0)), failed: z.boolean() }),
    /** Inputs and outputs as the session declares them, for the local inference API's model metadata. */
    signature: z.custom<ModelSignature>(isModelSignature).optional(),
  }),
  z.strictObject({ type: z.literal('load-error'), message: z.string() }),
  z.strictObject({
    type: z.literal('result'),
    id: z.int(),
    ok: z.boolean(),
    latencyMs: z.number().min(0).nullable(),
    error: z.string().optional(),
    capture: z.strictObject({ inputs: TensorMapSchema, outputs: TensorMapSchema }).optional(),
  }),
  z.strictObject({
    type: z.literal('inferred'),
    id: z.int(),
    ok: z.boolean(),
    latencyMs: z.number().min(0).nullable(),
    outputs: ServedTensorMapSchema.optional(),
    error: z.string().optional(),
  }),
  z.strictObject({ type: z.literal('disposed') }),
]);
export type FromWorker = z.infer<typeof FromWorkerSchema>;
export type RunResultMessage = Extract<FromWorker, { type: 'result' }>;
export type InferResultMessage = Extract<FromWorker, { type: 'inferred' }>;
