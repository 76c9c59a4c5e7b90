import { z } from 'zod';

/** Every REST error answer: a stable code (`invalid_request`, `not_found`, …) and a message for people. */
export const ApiErrorSchema = z
  .object({
    error: z.object({
      code: z.string(),
      message: z.string(),
      /** Structured facts where the message alone would not do (e.g. which devices a stopped assignment changed). */
      details: z.record(z.string(), z.unknown()).optional(),
    }),
  })
  .meta({ id: 'ApiError' });
export type ApiError = z.infer<typeof ApiErrorSchema>;

/**
 * Procedures one tRPC request may batch (the control plane refuses more with 400; the dashboard's
 * client splits its batches at this size). A page batches a handful; 600 in one request was one
 * caller's way to multiply its request rate.
 */
export const MAX_TRPC_BATCH = 16;
