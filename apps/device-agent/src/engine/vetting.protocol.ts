import { InputSpecListSchema } from '@edge-fleet/shared';
import { z } from 'zod';

/**
 * Messages between the agent and its short-lived vetting child (Node IPC, JSON). The agent validates
 * what the child says with these schemas; the child, which starts without zod to keep its start-up
 * short, checks the request by hand (vetting.child.ts) and imports only the types from here.
 */
export const ToVettingSchema = z.strictObject({
  type: z.literal('vet'),
  path: z.string().min(1),
  inputs: InputSpecListSchema,
  intraOpThreads: z.int().min(1).max(64),
  seed: z.int(),
  runs: z.int().min(1).max(100),
});
export type ToVetting = z.infer<typeof ToVettingSchema>;

const text = z.string().max(4000);

export const FromVettingSchema = z.discriminatedUnion('type', [
  /** Where the child got to, so a crash can be placed ("while loading", "during run 2"). */
  z.strictObject({ type: z.literal('stage'), stage: z.enum(['scanned', 'loaded', 'run']), run: z.int().min(1).optional() }),
  z.strictObject({
    type: z.literal('passed'),
    loadMs: z.number().min(0),
    latenciesMs: z.array(z.number().min(0)),
    /** What onnxruntime offers on this device (absent from children that predate it). */
    executionProviders: z.array(z.string().max(32)).max(16).optional(),
  }),
  /** `load`: the file was refused or did not load; `run`: a run threw or gave a non-finite output. */
  z.strictObject({ type: z.literal('failed'), phase: z.enum(['load', 'run']), message: text }),
]);
export type FromVetting = z.infer<typeof FromVettingSchema>;
