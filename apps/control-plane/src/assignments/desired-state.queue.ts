import { Queue, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { z } from 'zod';
import type { Logger } from '../infra/logger.js';

export const DESIRED_STATE_QUEUE = 'desired-state';
const JOB_NAME = 'publish-desired';

const JobSchema = z.strictObject({ deviceId: z.uuid(), assignmentVersion: z.int().min(0) });
export type PublishDesiredJob = z.infer<typeof JobSchema>;

export interface DesiredStateQueueOptions {
  redisUrl: string;
  prefix: string;
  /** Publishes the device's *latest* desired state from Postgres (so job order cannot regress it). */
  publishLatest: (deviceId: string) => Promise<void>;
  log: Logger;
  concurrency?: number;
}

/** BullMQ needs every key kept: an evicting Redis would lose jobs silently. */
export async function assertNoEviction(redis: Redis): Promise<void> {
  const reply = (await redis.config('GET', 'maxmemory-policy')) as string[];
  const policy = reply[1];
  if (policy && policy !== 'noeviction') {
    throw new Error(`Redis maxmemory-policy is "${policy}"; the job queue needs "noeviction" (set it with CONFIG SET maxmemory-policy noeviction)`);
  }
}

/**
 * Fan-out of desired states to devices through BullMQ: one job per (device, assignment version)
 * with a deterministic id, so a retried or doubled enqueue publishes once, and a failed publish
 * (broker away) is retried with backoff instead of being lost.
 */
export class DesiredStateQueue {
  private queue: Queue | null = null;
  private worker: Worker | null = null;
  private connection: Redis | null = null;
  private workerConnection: Redis | null = null;

  constructor(private readonly o: DesiredStateQueueOptions) {}

  async start(): Promise<void> {
    this.connection = new Redis(this.o.redisUrl, { maxRetriesPerRequest: null });
    await assertNoEviction(this.connection);
    this.queue = new Queue(DESIRED_STATE_QUEUE, { connection: this.connection, prefix: this.o.prefix });
    this.workerConnection = this.connection.duplicate();
    this.worker = new Worker(DESIRED_STATE_QUEUE, (job: Job) => this.process(job), {
      connection: this.workerConnection,
      prefix: this.o.prefix,
      concurrency: this.o.concurrency ?? 50,
    });
    this.worker.on('failed', (job, err) => this.o.log.warn('desired-state publish failed', { jobId: job?.id, error: err.message }));
  }

  private async process(job: Job): Promise<void> {
    if (job.name !== JOB_NAME) throw new Error(`no handler for job ${job.name}`);
    const data = JobSchema.parse(job.data);
    await this.o.publishLatest(data.deviceId);
  }

  async enqueue(jobs: PublishDesiredJob[]): Promise<void> {
    if (!this.queue) throw new Error('desired-state queue not started');
    await this.queue.addBulk(
      jobs.map((j) => ({
        name: JOB_NAME,
        data: j,
        opts: {
          jobId: `desired-${j.deviceId}-${j.assignmentVersion}`,
          attempts: 10,
          backoff: { type: 'exponential', delay: 500 },
          removeOnComplete: { age: 3_600, count: 10_000 },
          removeOnFail: { age: 86_400 },
        },
      })),
    );
  }

  /** Workers close before the connections they use. */
  async stop(): Promise<void> {
    await this.worker?.close();
    await this.queue?.close();
    this.workerConnection?.disconnect();
    this.connection?.disconnect();
  }
}
