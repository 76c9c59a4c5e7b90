import { z } from 'zod';

/** One reason the database gave for refusing windows' rollups, with how many windows it refused for it. */
export const ParkedReasonSchema = z.object({
  reason: z.string(),
  windows: z.number().int(),
  firstParkedAt: z.string(),
  lastParkedAt: z.string(),
});

/** `GET /api/v1/telemetry/rollups/parked`: the windows the fold set aside, in no rollup until requeued. */
export const ParkedWindowsSchema = z.object({
  windows: z.number().int(),
  oldestWindowStart: z.string().nullable(),
  /** The most frequent reasons first, at most 20. */
  reasons: z.array(ParkedReasonSchema),
});
export type ParkedWindows = z.infer<typeof ParkedWindowsSchema>;

/** `POST /api/v1/telemetry/rollups/parked/requeue` body: why (kept in the audit), once the cause is fixed. */
export const RequeueParkedSchema = z.strictObject({
  reason: z.string().trim().min(1).max(500).describe('e.g. "rollup row of device 42 repaired"'),
});
export type RequeueParked = z.infer<typeof RequeueParkedSchema>;

/** `POST /api/v1/telemetry/rollups/parked/requeue` answer: how many windows went back to the fold. */
export const RequeuedParkedSchema = z.object({ requeued: z.number().int() });
export type RequeuedParked = z.infer<typeof RequeuedParkedSchema>;
