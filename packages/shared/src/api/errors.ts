import { z } from 'zod';

/** Every REST error answer: a stable code (`invalid_request`, `not_found`, …) and a message for people. */
export const ApiErrorSchema = z.object({ error: z.object({ code: z.string(), message: z.string() }) }).meta({ id: 'ApiError' });
export type ApiError = z.infer<typeof ApiErrorSchema>;
