import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ROLE_PROCESSORS, ROLE_QUEUES, type Role } from './app.module.js';
import { defineQueue, JobWorkers, type JobProcessor } from './infra/jobs.js';

const ROLES: Role[] = ['api', 'worker'];

describe('queues and their processors', () => {
  it('serves every queue from exactly one role', () => {
    const names = ROLES.flatMap((r) => ROLE_QUEUES[r].map((q) => q.name));
    expect(new Set(names).size).toBe(names.length);
    expect(names.sort()).toEqual(['alert-webhooks', 'desired-state', 'maintenance', 'rollout-steps', 'telemetry-rollups', 'variant-build']);
  });

  it("has a handler for every job name of each role's queues (what each process checks at start)", () => {
    for (const r of ROLES) {
      // the handlers call their services only when a job runs: nothing is needed to build them
      const processors = ROLE_PROCESSORS[r].map((P) => new P());
      expect(() => JobWorkers.check(processors, ROLE_QUEUES[r]), r).not.toThrow();
    }
  });

  it('refuses to start processors that leave a job name or a queue without a handler', () => {
    const q = defineQueue({ name: 'q', jobs: { a: z.object({}), b: z.object({}) }, defaults: {} });
    const partial = { queue: q, concurrency: 1, handlers: { a: () => Promise.resolve() } } as unknown as JobProcessor;
    expect(() => JobWorkers.check([partial], [q])).toThrow('no handler for job b on queue q');
    expect(() => JobWorkers.check([], [q])).toThrow('no processor for queue q');
  });
});
