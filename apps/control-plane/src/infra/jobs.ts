import { Queue, Worker, type Job, type JobsOptions } from 'bullmq';
import { Redis } from 'ioredis';
import type { z } from 'zod';
import { AppError } from '../errors.js';
import { Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import { RedisConnectionLog } from './redis-connection.js';
import { settlesWithin } from './settles-within.js';

/** How long a shutdown waits for BullMQ to close on a Redis that answers; on one that does not, it does not wait. */
const CLOSE_GRACE_MS = 10_000;

/** What an enqueue answers while Redis is away: an `unavailable` (503 at the edges) naming Redis. */
function redisUnavailable(detail: string): AppError {
  return new AppError('unavailable', `Redis (the job queue) is not reachable: ${detail}`);
}

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

/** A queue's name, its job names with each one's payload schema, and the options every job gets. */
export interface QueueDefinition<J extends Record<string, z.ZodType> = Record<string, z.ZodType>> {
  readonly name: string;
  readonly jobs: J;
  readonly defaults: JobsOptions;
}

export function defineQueue<J extends Record<string, z.ZodType>>(d: QueueDefinition<J>): QueueDefinition<J> {
  return d;
}

type JobsOf<D> = D extends QueueDefinition<infer J> ? J : never;
export type JobName<D extends QueueDefinition> = keyof JobsOf<D> & string;
export type JobData<D extends QueueDefinition, N extends JobName<D>> = z.infer<JobsOf<D>[N]>;

/** One handler per job name of the queue: the compiler refuses a processor that misses one. */
export type JobHandlers<D extends QueueDefinition> = { [N in JobName<D>]: (data: JobData<D, N>) => Promise<void> };

/** What a processor class offers the worker side: its queue, how many jobs at once, and its handlers. */
export interface JobProcessor<D extends QueueDefinition = QueueDefinition> {
  readonly queue: D;
  readonly concurrency: number;
  readonly handlers: JobHandlers<D>;
}

/**
 * The producer side of every queue: one Redis connection, a BullMQ `Queue` per definition made on
 * first use. Producer classes (one per queue) enqueue through it; nothing here processes jobs.
 */
export class JobQueues {
  private connection: Redis | null = null;
  private readonly queues = new Map<string, Queue>();
  private readonly redisLog: RedisConnectionLog;

  /** `redisLog`: where connection errors go (the process's one, see RedisConnectionLog). */
  constructor(private readonly o: { redisUrl: string; prefix: string; redisLog?: RedisConnectionLog }) {
    this.redisLog = o.redisLog ?? new RedisConnectionLog(new Logger('jobs', 'warn'));
  }

  async start(): Promise<void> {
    // No offline queue: while Redis is away an enqueue fails at once (a 503 at the API) instead of
    // waiting, inside a request, for Redis to return
    // (https://docs.bullmq.io/patterns/failing-fast-when-redis-is-down); the workers' connections
    // keep theirs, as BullMQ requires.
    const connection = new Redis(this.o.redisUrl, { maxRetriesPerRequest: null, enableOfflineQueue: false, lazyConnect: true });
    this.redisLog.watch('queues', connection);
    this.connection = connection;
    await connection.connect();
    await assertNoEviction(connection);
  }

  private queue(def: QueueDefinition): Queue {
    if (!this.connection) throw new Error(`${def.name} queue not started`);
    // a Queue made while Redis is away would wait for it in its first command, offline queue or not
    if (this.connection.status !== 'ready') throw redisUnavailable(`connection ${this.connection.status}`);
    let q = this.queues.get(def.name);
    if (!q) {
      q = new Queue(def.name, { connection: this.connection, prefix: this.o.prefix });
      this.redisLog.watchEmitter(`${def.name} queue`, q);
      this.queues.set(def.name, q);
    }
    return q;
  }

  /**
   * Resolves when Redis answers a PING within `timeoutMs`, else throws `unavailable`: a caller
   * about to change something it must then enqueue asks first, so an outage changes nothing.
   */
  async assertReachable(timeoutMs = 1_500): Promise<void> {
    const c = this.connection;
    if (!c || c.status !== 'ready') throw redisUnavailable(`connection ${c?.status ?? 'not started'}`);
    const ping = c.ping();
    ping.catch(() => undefined);
    if (!(await settlesWithin(ping, timeoutMs))) throw redisUnavailable(`no answer to PING within ${timeoutMs} ms`);
    await ping.catch((e: unknown) => {
      throw redisUnavailable(e instanceof Error ? e.message : String(e));
    });
  }

  /** `delayMs`: the job runs no earlier than that; a job whose id exists already is not added again. */
  async add<D extends QueueDefinition, N extends JobName<D>>(
    def: D,
    name: N,
    jobs: { id: string; data: JobData<D, N>; delayMs?: number }[],
  ): Promise<void> {
    const schema = def.jobs[name];
    if (!schema) throw new Error(`queue ${def.name} has no job ${name}`);
    const q = this.queue(def);
    for (let i = 0; i < jobs.length; i += 1_000) {
      await q.addBulk(
        jobs.slice(i, i + 1_000).map((j) => ({
          name,
          data: schema.parse(j.data),
          opts: { ...def.defaults, jobId: j.id, ...(j.delayMs && j.delayMs > 0 ? { delay: Math.round(j.delayMs) } : {}) },
        })),
      );
    }
  }

  /**
   * A BullMQ job scheduler: one job every `everyMs` for the whole fleet of workers, however many
   * processes upsert it (the scheduler id is the key), the first one at once.
   */
  async schedule<D extends QueueDefinition, N extends JobName<D>>(def: D, name: N, everyMs: number, data: JobData<D, N>): Promise<void> {
    const schema = def.jobs[name];
    if (!schema) throw new Error(`queue ${def.name} has no job ${name}`);
    await this.queue(def).upsertJobScheduler(
      name,
      { every: everyMs },
      { name, data: schema.parse(data), opts: { removeOnComplete: { count: 100 }, removeOnFail: { count: 100 } } },
    );
  }

  /** Jobs of the queue by state (BullMQ's counts), for /metrics. */
  async counts(def: QueueDefinition): Promise<Record<string, number>> {
    return this.queue(def).getJobCounts();
  }

  /** Removes a job scheduler (a setting now off must not keep running from an earlier start). */
  async unschedule<D extends QueueDefinition>(def: D, name: JobName<D>): Promise<void> {
    await this.queue(def).removeJobScheduler(name);
  }

  /** Closes the queues, waiting at most `graceMs` (a close waits on a Redis that may be gone), then drops the connection. */
  async stop(graceMs = CLOSE_GRACE_MS): Promise<void> {
    const up = this.connection?.status === 'ready';
    if (up) await settlesWithin(Promise.allSettled([...this.queues.values()].map((q) => q.close())), graceMs);
    this.queues.clear();
    this.connection?.disconnect();
    this.connection = null;
  }
}

/**
 * The processor side: a BullMQ `Worker` per processor, each job validated by its schema and given to
 * the handler of its name. `start` refuses a set of processors that leaves a queue it must serve,
 * or a job name of one, without a handler (STYLE 13).
 */
export class JobWorkers {
  private readonly workers: Worker[] = [];
  private readonly connections: Redis[] = [];

  private readonly redisLog: RedisConnectionLog;

  /** `metrics`: each job's run time is reported there when given; `redisLog`: the process's one. */
  constructor(private readonly o: { redisUrl: string; prefix: string; log: Logger; metrics?: Metrics; redisLog?: RedisConnectionLog }) {
    this.redisLog = o.redisLog ?? new RedisConnectionLog(o.log);
  }

  static check(processors: readonly JobProcessor[], mustServe: readonly QueueDefinition[]): void {
    for (const def of mustServe) {
      const p = processors.find((x) => x.queue.name === def.name);
      if (!p) throw new Error(`no processor for queue ${def.name}`);
      const handlers = p.handlers as Record<string, unknown>;
      for (const name of Object.keys(def.jobs)) {
        if (typeof handlers[name] !== 'function') throw new Error(`no handler for job ${name} on queue ${def.name}`);
      }
    }
  }

  async start(processors: readonly JobProcessor[], mustServe: readonly QueueDefinition[]): Promise<void> {
    JobWorkers.check(processors, mustServe);
    for (const p of processors) {
      const connection = new Redis(this.o.redisUrl, { maxRetriesPerRequest: null });
      this.redisLog.watch(`${p.queue.name} worker`, connection);
      this.connections.push(connection);
      await assertNoEviction(connection);
      const worker = new Worker(p.queue.name, (job: Job) => runJob(p, job, this.o.metrics), {
        connection,
        prefix: this.o.prefix,
        concurrency: p.concurrency,
      });
      worker.on('failed', (job, err) =>
        this.o.log.warn(`${p.queue.name} job failed`, { jobId: job?.id, job: job?.name, error: err.message }),
      );
      this.redisLog.watchEmitter(`${p.queue.name} worker`, worker);
      this.workers.push(worker);
    }
  }

  /**
   * Workers finish their running jobs and close before their connections (and before the
   * database), within `graceMs`. BullMQ's close waits on Redis, forever when it is gone (issue 14:
   * a SIGTERM during an outage never exited): then the workers are closed without waiting for
   * their jobs and the connections dropped. A job cut short is not lost: its lock expires and
   * another worker runs it again (the processors are idempotent).
   */
  async stop(graceMs = CLOSE_GRACE_MS): Promise<void> {
    const up = this.connections.every((c) => c.status === 'ready');
    // Redis lost during the wait ends it too (a SIGTERM often comes before the process has noticed)
    let lostMeanwhile = false;
    let onLost = (): void => undefined;
    const lost = new Promise<void>((resolve) => (onLost = resolve)).then(() => void (lostMeanwhile = true));
    for (const c of this.connections) c.once('close', onLost);
    const closed = up && (await settlesWithin(Promise.allSettled(this.workers.map((w) => w.close())), graceMs, lost));
    for (const c of this.connections) c.off('close', onLost);
    if (!closed) {
      this.o.log.warn('closing job workers without waiting for their jobs', {
        reason: !up ? 'redis unreachable' : lostMeanwhile ? 'redis lost while closing' : `not closed within ${graceMs} ms`,
      });
      // connections dropped first: BullMQ's last commands then fail at once instead of waiting for Redis
      for (const c of this.connections) c.disconnect();
      await settlesWithin(Promise.allSettled(this.workers.map((w) => w.close(true))), 2_000);
    }
    this.workers.length = 0;
    for (const c of this.connections) c.disconnect();
    this.connections.length = 0;
  }
}

async function runJob(p: JobProcessor, job: Job, metrics?: Metrics): Promise<void> {
  const schema = p.queue.jobs[job.name];
  const handler = (p.handlers as Record<string, ((data: unknown) => Promise<void>) | undefined>)[job.name];
  if (!schema || !handler) throw new Error(`no handler for job ${job.name} on ${p.queue.name}`);
  const started = performance.now();
  let outcome: 'completed' | 'failed' = 'failed';
  try {
    await handler(schema.parse(job.data));
    outcome = 'completed';
  } finally {
    metrics?.jobFinished(p.queue.name, job.name, outcome, (performance.now() - started) / 1000);
  }
}
