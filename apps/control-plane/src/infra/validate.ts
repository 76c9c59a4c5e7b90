import type { z } from 'zod';
import { AppError } from '../errors.js';

/** Schema issues as one line that names each offending field. */
export function issuesText(issues: readonly z.core.$ZodIssue[], max = 10): string {
  return issues
    .slice(0, max)
    .map((i) => `${i.path.length ? i.path.map(String).join('.') : '(root)'}: ${i.message}`)
    .join('; ');
}

/** Parses untrusted input; the error names each offending field. */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, what = 'request'): z.infer<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  throw new AppError('invalid_request', `invalid ${what}: ${issuesText(r.error.issues)}`);
}
