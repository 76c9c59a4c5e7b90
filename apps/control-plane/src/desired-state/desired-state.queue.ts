import { Inject, Injectable } from '@nestjs/common';
import { z } from 'zod';
import { defineQueue, JobQueues } from '../infra/jobs.js';
import { sha256Hex } from '../infra/secrets.js';

const OneSchema = z.strictObject({ deviceId: z.uuid(), assignmentVersion: z.int().min(0) });

/**
 * Fan-out of desired states to devices through BullMQ, with deterministic job ids so a retried or
 * doubled enqueue publishes once, and a failed publish (broker away) is retried with backoff
 * instead of being lost. It is the api's outbound edge to the broker: the api processes it (the
 * process that holds the broker, embedded or external), so the worker reaches devices only by
 * enqueueing here.
 */
export const DESIRED_STATE = defineQueue({
  name: 'desired-state',
  jobs: {
    'publish-desired': z.union([
      OneSchema,
      // unlessPublished: a fallback, publishing only the devices whose number was not claimed for publishing meanwhile
      z.strictObject({ devices: z.array(OneSchema).min(1).max(1_000), unlessPublished: z.literal(true).optional() }),
    ]),
  },
  defaults: {
    attempts: 10,
    backoff: { type: 'exponential', delay: 500 },
    removeOnComplete: { age: 3_600, count: 10_000 },
    removeOnFail: { age: 86_400 },
  },
});

/** `delayMs`: a rollout spreads its notifications over time (rate limit with jitter). */
export type PublishDesiredJob = z.infer<typeof OneSchema> & { delayMs?: number };

/** Devices per batch job: a 10,000-device assignment is 20 jobs, each one query and 500 publishes. */
export const PUBLISH_BATCH = 500;

/**
 * The producer of desired-state publishes (enqueue only). Notifications due now go in batch jobs of
 * PUBLISH_BATCH devices (one job per device took 23 s to notify 10,000 devices); a delayed one (a
 * rollout's rate limit) is a job of its own.
 */
@Injectable()
export class DesiredStateQueue {
  constructor(@Inject(JobQueues) private readonly jobs: JobQueues) {}

  /** Throws `unavailable` when Redis does not answer now (see JobQueues.assertReachable). */
  assertReachable(): Promise<void> {
    return this.jobs.assertReachable();
  }

  enqueue(jobs: PublishDesiredJob[]): Promise<void> {
    const delayed = jobs.filter((j) => j.delayMs);
    const now = jobs.filter((j) => !j.delayMs).map(({ deviceId, assignmentVersion }) => ({ deviceId, assignmentVersion }));
    const batches = [];
    for (const devices of inBatches(now)) {
      // the id names exactly this set of (device, version) pairs
      const id =
        devices.length === 1 ? `desired-${devices[0]?.deviceId}-${devices[0]?.assignmentVersion}` : `desired-batch-${pairsHash(devices)}`;
      batches.push({ id, data: devices.length === 1 && devices[0] ? devices[0] : { devices } });
    }
    return this.jobs.add(DESIRED_STATE, 'publish-desired', [...batches, ...delayed.map(oneJob)]);
  }

  /**
   * Queues, `delayMs` from now, the publication of those of these states whose number has not been
   * claimed for publishing by then: the fallback of a caller that publishes them itself, should it
   * stop part way (a crash, a deploy). Devices published meanwhile cost a Redis read, not a publish.
   */
  enqueueFallback(jobs: readonly PublishDesiredJob[], delayMs: number): Promise<void> {
    const pairs = jobs.map(({ deviceId, assignmentVersion }) => ({ deviceId, assignmentVersion }));
    return this.jobs.add(
      DESIRED_STATE,
      'publish-desired',
      inBatches(pairs).map((devices) => ({
        id: `desired-fallback-${pairsHash(devices)}`,
        data: { devices, unlessPublished: true as const },
        delayMs,
      })),
    );
  }

  /**
   * Queues each device's publish as a job of its own under the id a single or delayed enqueue
   * gives it, so a device whose publish is already queued, running or done (completed jobs are kept
   * an hour) is not published again: how a sweep repairs a lost enqueue without repeating the
   * ones that were not lost.
   */
  enqueueEach(jobs: PublishDesiredJob[]): Promise<void> {
    return this.jobs.add(DESIRED_STATE, 'publish-desired', jobs.map(oneJob));
  }
}

function inBatches<T>(items: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += PUBLISH_BATCH) out.push(items.slice(i, i + PUBLISH_BATCH));
  return out;
}

function pairsHash(devices: readonly z.infer<typeof OneSchema>[]): string {
  return sha256Hex(devices.map((d) => `${d.deviceId}:${d.assignmentVersion}`).join(','));
}

function oneJob({ delayMs, ...data }: PublishDesiredJob): { id: string; data: z.infer<typeof OneSchema>; delayMs?: number } {
  return { id: `desired-${data.deviceId}-${data.assignmentVersion}`, data, ...(delayMs ? { delayMs } : {}) };
}
