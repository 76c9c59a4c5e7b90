import { describe, expect, it } from 'vitest';
import { createLogger } from '../core/logger.js';
import { EnrollmentError } from '../enrollment/enrollment.client.js';
import { untilAnswered } from './enrollment.bootstrap.js';

const logger = createLogger('error');

/** Runs untilAnswered over these outcomes (an error thrown, or a value returned), recording each wait instead of sleeping. */
async function tries(outcomes: (Error | string)[], attempts = 0): Promise<{ result: string | Error; waits: number[]; calls: number }> {
  const waits: number[] = [];
  let calls = 0;
  const result = await untilAnswered(
    attempts,
    logger,
    () => {
      const next = outcomes[calls++];
      if (next === undefined) throw new Error('no more outcomes');
      return next instanceof Error ? Promise.reject(next) : Promise.resolve(next);
    },
    (ms) => {
      waits.push(ms);
      return Promise.resolve();
    },
  ).catch((e: unknown) => e as Error);
  return { result, waits, calls };
}

describe('trying an enrollment again', () => {
  it('waits 1 s, then doubling, after transient failures, until it is answered', async () => {
    const r = await tries([new EnrollmentError('no answer', 'timeout'), new EnrollmentError('away', 'unavailable'), 'enrolled']);
    expect(r).toEqual({ result: 'enrolled', waits: [1_000, 2_000], calls: 3 });
  });

  it("waits at least as long as the control plane's Retry-After asks", async () => {
    const r = await tries([new EnrollmentError('too many enrollments', 'rate_limited', 30_000), 'enrolled']);
    expect(r.waits).toEqual([30_000]);
    expect(r.result).toBe('enrolled');
  });

  it('ends at once on a refusal that would be the same next time, and after --enroll-attempts tries', async () => {
    const refused = new EnrollmentError('token used', 'unauthorized');
    expect(await tries([refused, 'enrolled'])).toEqual({ result: refused, waits: [], calls: 1 });
    const timeout = new EnrollmentError('no answer', 'timeout');
    expect(await tries([timeout, timeout, 'enrolled'], 2)).toEqual({ result: timeout, waits: [1_000], calls: 2 });
  });
});
