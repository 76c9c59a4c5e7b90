import type { RequestHandler } from 'express';
import type { Logger } from './logger.js';
import { probe } from './probe.js';

/** Paths the breaker answers for: those that need the database (not /healthz, /readyz, /metrics, the OpenAPI document). */
const GUARDED = /^\/(api|trpc)\/(?!v1\/openapi\.json$)/;

/**
 * Answers operator requests with 503 at once while Postgres is known to be unreachable (RELIABILITY
 * row 19). Without it, during a network partition (connections neither refused nor answered) every
 * request waited for the pool's 5 s connection timeout before its 503. A request that fails because
 * the database cannot be reached trips it; from then on one probe (`SELECT 1`, bounded) runs at a
 * time, immediately and then every `retryMs`, and the first that succeeds closes it again. A false
 * trip (one reset connection) therefore costs only the time of one successful probe.
 */
export class DatabaseBreaker {
  private downSince: number | null = null;
  private reason = '';
  private loop: Promise<void> | null = null;
  private stopped = false;

  constructor(
    private readonly check: () => Promise<unknown>,
    private readonly log: Logger,
    private readonly retryMs = 500,
    private readonly probeTimeoutMs = 2_000,
  ) {}

  get down(): boolean {
    return this.downSince !== null;
  }

  /** A request failed because the database could not be reached. */
  tripped(reason: string): void {
    if (this.stopped || this.downSince !== null) return;
    this.downSince = Date.now();
    this.reason = reason;
    this.log.warn('database unreachable: operator requests answer 503 until a probe succeeds', { error: reason });
    this.loop = this.probeUntilUp();
  }

  /** 503 `unavailable` with Retry-After for the guarded paths while the database is down. */
  middleware(): RequestHandler {
    return (req, res, next) => {
      const since = this.downSince;
      if (since === null || !GUARDED.test(req.path)) return next();
      res
        .status(503)
        .set('Retry-After', '1')
        .json({
          error: {
            code: 'unavailable',
            message: `the database is not reachable (since ${new Date(since).toISOString()}: ${this.reason}); retry shortly`,
          },
        });
    };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }

  private async probeUntilUp(): Promise<void> {
    for (let first = true; !this.stopped; first = false) {
      if (!first) await new Promise((r) => setTimeout(r, this.retryMs));
      if (await probe(this.check, this.probeTimeoutMs)) {
        const downForMs = Date.now() - (this.downSince ?? Date.now());
        this.downSince = null;
        this.log.info('database reachable again', { downForMs });
        return;
      }
    }
  }
}
