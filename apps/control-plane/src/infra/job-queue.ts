import { Queue, Worker, type Job, type JobsOptions } from 'bullmq';
import { Redis } from 'ioredis';
import type { z } from 'zod';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';

/** BullMQ needs every key kept: an evicting Redis would lose jobs silently. */
export async function assertNoEviction(redis: Redis): Promise<void> {
  const reply = (await redis.config('GET', 'maxmemory-policy')) as string[];
  const policy = reply[1];
  if (policy && policy !== 'noeviction') {
    throw new Error(
      `Redis maxmemory-policy is "${policy}"; the job queue needs "noeviction" (set it with CONFIG SET maxmemory-policy noeviction)`,
    );
  }
}

export interface JobQueueOptions<S extends z.ZodType> {
  queue: string;
  jobName: string;
  schema: S;
  redisUrl: string;
  prefix: string;
  concurrency: number;
  /** Must be idempotent: a job may run again after a crash or a retry. */
  handle: (data: z.infer<S>) => Promise<void>;
  defaults: JobsOptions;
  log: Logger;
  /** Job durations and queue depths are reported here when given. */
  metrics?: Metrics;
}

/**
 * One BullMQ queue with its worker: job payloads validated by a zod schema, one handler per job
 * name, deterministic job ids chosen by the caller so that a doubled enqueue runs once.
 */
export class JobQueue<S extends z.ZodType> {
  private queue: Queue | null = null;
  private worker: Worker | null = null;
  private connections: Redis[] = [];

  constructor(private readonly o: JobQueueOptions<S>) {}

  async start(): Promise<void> {
    const connection = new Redis(this.o.redisUrl, { maxRetriesPerRequest: null });
    this.connections.push(connection);
    await assertNoEviction(connection);
    this.queue = new Queue(this.o.queue, { connection, prefix: this.o.prefix });
    const workerConnection = connection.duplicate();
    this.connections.push(workerConnection);
    this.worker = new Worker(this.o.queue, (job: Job) => this.process(job), {
      connection: workerConnection,
      prefix: this.o.prefix,
      concurrency: this.o.concurrency,
    });
    this.worker.on('failed', (job, err) => this.o.log.warn(`${this.o.queue} job failed`, { jobId: job?.id, error: err.message }));
    this.o.metrics?.watchQueue(this.o.queue, () => this.queue?.getJobCounts() ?? Promise.resolve({}));
  }

  private async process(job: Job): Promise<void> {
    if (job.name !== this.o.jobName) throw new Error(`no handler for job ${job.name} on ${this.o.queue}`);
    const started = performance.now();
    let outcome: 'completed' | 'failed' = 'failed';
    try {
      await this.o.handle(this.o.schema.parse(job.data));
      outcome = 'completed';
    } finally {
      this.o.metrics?.jobFinished(this.o.queue, job.name, outcome, (performance.now() - started) / 1000);
    }
  }

  /** `delayMs`: the job runs no earlier than that; a job whose id exists already is not added again. */
  async enqueue(jobs: { id: string; data: z.infer<S>; delayMs?: number }[]): Promise<void> {
    if (!this.queue) throw new Error(`${this.o.queue} queue not started`);
    for (let i = 0; i < jobs.length; i += 1_000) {
      await this.queue.addBulk(
        jobs.slice(i, i + 1_000).map((j) => ({
          name: this.o.jobName,
          data: this.o.schema.parse(j.data),
          opts: { ...this.o.defaults, jobId: j.id, ...(j.delayMs && j.delayMs > 0 ? { delay: Math.round(j.delayMs) } : {}) },
        })),
      );
    }
  }

  /** Workers close before the connections they use. */
  async stop(): Promise<void> {
    await this.worker?.close();
    await this.queue?.close();
    for (const c of this.connections) c.disconnect();
    this.connections = [];
  }
}
