import type { z } from 'zod';
import { AppError } from '../errors.js';

/** Parses untrusted input; the error names each offending field. */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, what = 'request'): z.infer<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const detail = r.error.issues
    .slice(0, 10)
    .map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`)
    .join('; ');
  throw new AppError('invalid_request', `invalid ${what}: ${detail}`);
}
