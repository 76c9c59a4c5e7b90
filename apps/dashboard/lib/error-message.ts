import { z } from 'zod';

/** One input-validation issue as tRPC forwards a zod error: the message is the JSON of the issue list. */
const IssueSchema = z.object({
  path: z.array(z.union([z.string(), z.number()])),
  message: z.string(),
});
const IssueListSchema = z.array(IssueSchema).min(1);

export interface ErrorIssue {
  /** Dotted path of the offending field ("" for the whole input). */
  field: string;
  message: string;
}

/**
 * The issues in a server error message: a zod input error arrives as a JSON array of issues, any other
 * error (an `AppError` from a service) as one plain sentence that already names its field.
 */
export function errorIssues(message: string): ErrorIssue[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(message);
  } catch {
    return [{ field: '', message }];
  }
  const issues = IssueListSchema.safeParse(parsed);
  if (!issues.success) return [{ field: '', message }];
  return issues.data.map((i) => ({ field: i.path.join('.'), message: i.message }));
}

/** A server error message for people: "errorRateMax: Too big: expected number to be <=1". */
export function readableErrorMessage(message: string): string {
  return errorIssues(message)
    .map((i) => (i.field ? `${i.field}: ${i.message}` : i.message))
    .join('; ');
}
