import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { NextFunction, Request, Response } from 'express';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Logger } from './logger.js';

/** Which entry point a process runs: its metrics carry it as the `role` label. */
export type ProcessRole = 'api' | 'worker' | 'all';

/** What the telemetry ingest reports of itself, read at each scrape. */
export interface IngestFigures {
  health(): { committing: boolean; buffered: number; oldestBufferedSeconds: number; consecutiveFailedFlushes: number };
  readonly stats: {
    inserted: number;
    duplicates: number;
    rejected: number;
    poison: number;
    overQuota: number;
    interleaved: number;
    refusedFull: number;
  };
}

/** Job counts of one queue by state, as BullMQ's `getJobCounts` answers. */
export type QueueCounts = () => Promise<Record<string, number>>;

const LAG_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const HTTP_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10];
const JOB_BUCKETS = [0.005, 0.025, 0.1, 0.5, 1, 5, 15, 60, 300];
/**
 * Where the fold-backlog gauge stops counting: an exact count(*) of a backlog in the millions took
 * seconds of Postgres per scrape, just when the fold is behind; this many is already an alarm.
 */
export const ROLLUP_PENDING_CAP = 100_000;

/** The telemetry fold's two tables of windows: those waiting to be folded, those it set aside. */
export type RollupWindowTable = 'pending' | 'parked';
const QUEUE_STATES = ['waiting', 'active', 'delayed', 'failed', 'prioritized', 'waiting-children'] as const;

/**
 * The process's Prometheus metrics (prom-client), one registry per process so that several
 * control planes in one test process do not share figures. Sources that live elsewhere (the ingest,
 * the queues, the broker, the rollouts) are read when Prometheus scrapes, not pushed on every event.
 */
export class Metrics {
  readonly registry = new Registry();
  private ingest: IngestFigures | null = null;
  private readonly queues = new Map<string, QueueCounts>();
  private connections: (() => number) | null = null;
  private rolloutStates: (() => Promise<Record<string, number>>) | null = null;
  private rollupWindows: ((which: RollupWindowTable, cap: number) => Promise<number>) | null = null;
  private readonly commitLag: Histogram;
  private readonly jobDuration: Histogram;
  private readonly httpDuration: Histogram;

  constructor(role: ProcessRole) {
    this.registry.setDefaultLabels({ role });
    collectDefaultMetrics({ register: this.registry, prefix: 'edge_fleet_' });
    const registers = [this.registry];
    const committing: Gauge = new Gauge({
      name: 'edge_fleet_ingest_committing',
      help: 'Whether telemetry ingest is committing (1) or stalled (0)',
      registers,
      collect: () => {
        if (this.ingest) committing.set(this.ingest.health().committing ? 1 : 0);
      },
    });
    const oldest: Gauge = new Gauge({
      name: 'edge_fleet_ingest_oldest_buffered_seconds',
      help: 'Age of the oldest telemetry window waiting for its commit',
      registers,
      collect: () => {
        if (this.ingest) oldest.set(this.ingest.health().oldestBufferedSeconds);
      },
    });
    const buffered: Gauge = new Gauge({
      name: 'edge_fleet_ingest_buffered_windows',
      help: 'Telemetry windows waiting for their commit (buffer depth)',
      registers,
      collect: () => {
        if (this.ingest) buffered.set(this.ingest.health().buffered);
      },
    });
    const failedFlushes: Gauge = new Gauge({
      name: 'edge_fleet_ingest_consecutive_failed_flushes',
      help: 'Flushes failed in a row because the database was unavailable',
      registers,
      collect: () => {
        if (this.ingest) failedFlushes.set(this.ingest.health().consecutiveFailedFlushes);
      },
    });
    // the ingest keeps plain counters on its hot path; a scrape copies them (a reset then the total)
    const windows: Counter = new Counter({
      name: 'edge_fleet_ingest_windows_total',
      help: 'Telemetry windows by outcome: inserted, duplicate, rejected (dead-lettered), poison, over_quota, interleaved (a second boot beside the first: a clone), refused_buffer_full',
      labelNames: ['outcome'],
      registers,
      collect: () => {
        const s = this.ingest?.stats;
        if (!s) return;
        windows.reset();
        const outcomes: [string, number][] = [
          ['inserted', s.inserted],
          ['duplicate', s.duplicates],
          ['rejected', s.rejected],
          ['poison', s.poison],
          ['over_quota', s.overQuota],
          ['interleaved', s.interleaved],
          ['refused_buffer_full', s.refusedFull],
        ];
        for (const [outcome, n] of outcomes) windows.inc({ outcome }, n);
      },
    });
    this.commitLag = new Histogram({
      name: 'edge_fleet_ingest_commit_lag_seconds',
      help: 'From a telemetry window reaching the control plane to its row being committed',
      buckets: LAG_BUCKETS,
      registers,
    });
    const queueJobs: Gauge = new Gauge({
      name: 'edge_fleet_queue_jobs',
      help: 'BullMQ jobs by queue and state',
      labelNames: ['queue', 'state'],
      registers,
      collect: async () => {
        queueJobs.reset();
        for (const [queue, counts] of this.queues) {
          const c = await counts().catch(() => null);
          if (!c) continue;
          for (const state of QUEUE_STATES) queueJobs.set({ queue, state }, c[state] ?? 0);
        }
      },
    });
    this.jobDuration = new Histogram({
      name: 'edge_fleet_job_duration_seconds',
      help: 'BullMQ job run time by queue, job name and outcome',
      labelNames: ['queue', 'job', 'outcome'],
      buckets: JOB_BUCKETS,
      registers,
    });
    const connections: Gauge = new Gauge({
      name: 'edge_fleet_mqtt_connections',
      help: 'MQTT client connections: devices on the embedded broker, or this process on an external broker (1/0)',
      registers,
      collect: () => {
        if (this.connections) connections.set(this.connections());
      },
    });
    const rollouts: Gauge = new Gauge({
      name: 'edge_fleet_rollouts',
      help: 'Rollouts by status',
      labelNames: ['status'],
      registers,
      collect: async () => {
        if (!this.rolloutStates) return;
        const byStatus = await this.rolloutStates().catch(() => null);
        if (!byStatus) return;
        rollouts.reset();
        for (const [status, n] of Object.entries(byStatus)) rollouts.set({ status }, n);
      },
    });
    // the fold's two tables, each counted up to ROLLUP_PENDING_CAP at a scrape: a bounded cost however far behind
    const rollupWindows = (name: string, help: string, which: RollupWindowTable): void => {
      const gauge: Gauge = new Gauge({
        name,
        help: `${help}; a bounded count: exact up to ${ROLLUP_PENDING_CAP}, which reads "at least ${ROLLUP_PENDING_CAP}"`,
        registers,
        collect: async () => {
          if (!this.rollupWindows) return;
          const n = await this.rollupWindows(which, ROLLUP_PENDING_CAP).catch(() => null);
          if (n !== null) gauge.set(n);
        },
      });
    };
    rollupWindows(
      'edge_fleet_telemetry_rollups_pending_windows',
      'Stored telemetry windows waiting for the fold to add them to the rollups (rollup reads lag by these)',
      'pending',
    );
    rollupWindows(
      'edge_fleet_telemetry_rollups_parked_windows',
      'Stored telemetry windows the fold set aside because the database refused their rollup (in no rollup until an admin requeues them: POST /api/v1/telemetry/rollups/parked/requeue)',
      'parked',
    );
    this.httpDuration = new Histogram({
      name: 'edge_fleet_http_request_duration_seconds',
      help: 'HTTP request duration by method, route and status',
      labelNames: ['method', 'route', 'status'],
      buckets: HTTP_BUCKETS,
      registers,
    });
  }

  /** The ingest whose state and counters the scrape reads. */
  watchIngest(ingest: IngestFigures): void {
    this.ingest = ingest;
  }

  /** A queue whose depth by state the scrape reads. */
  watchQueue(queue: string, counts: QueueCounts): void {
    this.queues.set(queue, counts);
  }

  watchConnections(count: () => number): void {
    this.connections = count;
  }

  watchRollouts(byStatus: () => Promise<Record<string, number>>): void {
    this.rolloutStates = byStatus;
  }

  /**
   * The fold's windows read at each scrape, counted up to ROLLUP_PENDING_CAP: its backlog
   * (TelemetryRollupPending) and the windows it set aside (TelemetryRollupParked).
   */
  watchRollupWindows(count: (which: RollupWindowTable, cap: number) => Promise<number>): void {
    this.rollupWindows = count;
  }

  /** Windows just committed, each with the time it reached the control plane. */
  committed(receivedAt: readonly number[], now = Date.now()): void {
    for (const t of receivedAt) this.commitLag.observe(Math.max(0, now - t) / 1000);
  }

  jobFinished(queue: string, job: string, outcome: 'completed' | 'failed', seconds: number): void {
    this.jobDuration.observe({ queue, job, outcome }, seconds);
  }

  /**
   * Express middleware timing every request. The route label is the matched route's pattern (or the
   * tRPC procedure), never the raw URL: a hostile client cannot grow the label set.
   */
  httpTimer(trpcProcedures: ReadonlySet<string>) {
    return (req: Request, res: Response, next: NextFunction): void => {
      const start = process.hrtime.bigint();
      res.once('finish', () => {
        const seconds = Number(process.hrtime.bigint() - start) / 1e9;
        this.httpDuration.observe({ method: req.method, route: routeLabel(req, trpcProcedures), status: String(res.statusCode) }, seconds);
      });
      next();
    };
  }

  async text(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

function routeLabel(req: Request, procedures: ReadonlySet<string>): string {
  const route = (req.route as { path?: unknown } | undefined)?.path;
  // a wildcard pattern is a mount, not one of our routes: its label would say nothing
  if (typeof route === 'string' && !route.includes('*')) return `${req.baseUrl}${route}`;
  if (req.originalUrl.startsWith('/trpc/')) {
    // a batched call names several procedures joined by commas
    const names = (req.originalUrl.slice('/trpc/'.length).split('?')[0] ?? '').split(',');
    return names.every((n) => procedures.has(n)) ? `/trpc/${names.join(',')}` : '/trpc/(unknown)';
  }
  return '(unmatched)';
}

/**
 * The HTTP endpoints of a process with no API (the worker): `GET /metrics`, and `GET /readyz`
 * answering 200 when every check of `readiness` passes, else 503 naming the failing ones. A bare
 * HTTP server that answers nothing else. Returns the bound port, so port 0 works in tests.
 */
export async function serveWorkerHttp(
  metrics: Metrics,
  readiness: () => Promise<Record<string, boolean>>,
  host: string,
  port: number,
  log: Logger,
): Promise<{ port: number; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const path = req.url?.split('?', 1)[0];
    if (req.method === 'GET' && path === '/readyz') {
      void readiness().then((checks) => {
        const ready = Object.values(checks).every(Boolean);
        res
          .writeHead(ready ? 200 : 503, { 'content-type': 'application/json' })
          .end(JSON.stringify({ status: ready ? 'ready' : 'not_ready', checks }));
      });
      return;
    }
    if (req.method !== 'GET' || path !== '/metrics') {
      res
        .writeHead(404, { 'content-type': 'application/json' })
        .end('{"error":{"code":"not_found","message":"only GET /metrics and GET /readyz here"}}');
      return;
    }
    metrics.text().then(
      ({ contentType, body }) => res.writeHead(200, { 'content-type': contentType }).end(body),
      (e: unknown) => {
        log.error('metrics scrape failed', { error: e instanceof Error ? e.message : String(e) });
        res.writeHead(500).end();
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
