import { Inject, Injectable } from '@nestjs/common';
import type { ParkedWindows, RequeuedParked } from '@edge-fleet/shared/api';
import { AuditRepository } from '../infra/audit.repository.js';
import type { Logger } from '../infra/logger.js';
import { LOGGER } from '../infra/tokens.js';
import { UnitOfWork } from '../infra/unit-of-work.js';
import { type FoldResult, TelemetryRollupRepository } from './telemetry-rollup.repository.js';

/** Windows folded per transaction: big enough to merge many windows into each rollup row, small enough to hold locks briefly. */
export const FOLD_BATCH = 5_000;
/** One job folds for at most this long, then leaves the rest to the next (its BullMQ lock is 30 s). */
const FOLD_BUDGET_MS = 5_000;

export interface FoldPass extends FoldResult {
  /** Another worker was folding: this pass left it to that one. */
  locked: boolean;
}

/**
 * Adds stored windows to the rollups after their commit, off the ingest's transaction (issue 15:
 * kept inside it, the rollups cost ~50 % more ingest CPU per window). The ingest leaves each new
 * window's id in TelemetryRollupPending; the worker's `fold-telemetry-rollups` job, every
 * TELEMETRY_ROLLUP_FOLD_MS, folds them in batches. Rollup readers are behind by at most about that
 * interval (more while the fold cannot keep up; `pending` says how far).
 */
@Injectable()
export class TelemetryRollupFoldService {
  private readonly log: Logger;

  constructor(
    @Inject(TelemetryRollupRepository) private readonly rollups: TelemetryRollupRepository,
    @Inject(UnitOfWork) private readonly uow: UnitOfWork,
    @Inject(AuditRepository) private readonly audit: AuditRepository,
    @Inject(LOGGER) logger: Logger,
  ) {
    this.log = logger.child('telemetry-rollups');
  }

  /** One job's pass: batch after batch until nothing is pending or the budget is spent. */
  async fold(budgetMs = FOLD_BUDGET_MS): Promise<FoldPass> {
    const pass: FoldPass = { taken: 0, folded: 0, parked: 0, locked: false };
    const until = Date.now() + budgetMs;
    for (;;) {
      const r = await this.rollups.foldPending(FOLD_BATCH);
      if (r === null) return { ...pass, locked: true };
      pass.taken += r.taken;
      pass.folded += r.folded;
      pass.parked += r.parked;
      if (r.parked > 0)
        this.log.error('telemetry rollups: windows the database refused to fold were set aside in TelemetryRollupParked', {
          parked: r.parked,
          folded: r.folded,
        });
      if (r.taken < FOLD_BATCH) return pass;
      if (Date.now() >= until) {
        this.log.warn('telemetry rollups behind: pending windows left for the next fold', {
          folded: pass.folded,
          pending: await this.rollups.pendingCount(),
        });
        return pass;
      }
    }
  }

  /** The windows set aside because the database refused their rollups (`GET /api/v1/telemetry/rollups/parked`). */
  parked(): Promise<ParkedWindows> {
    return this.rollups.parkedSummary();
  }

  /**
   * Moves every parked window back to the pending table, with an audit event, in one transaction:
   * the operator fixed the cause, and the next scheduled fold adds each window once (or parks it again).
   */
  async requeueParked(actor: string, reason: string): Promise<RequeuedParked> {
    const requeued = await this.uow.run(async (tx) => {
      const n = await this.rollups.requeueParked(tx);
      await this.audit.append(tx, {
        actor,
        action: 'telemetry.rollups_requeued',
        targetType: 'telemetry_rollups',
        targetId: 'parked',
        details: { requeued: n, reason },
      });
      return n;
    });
    this.log.warn('parked telemetry windows moved back for the fold', { requeued, reason });
    return { requeued };
  }

  /** Folds until nothing is pending, waiting out another worker's fold: what tests and benchmarks read after. */
  async drain(timeoutMs = 120_000): Promise<FoldResult> {
    const total: FoldResult = { taken: 0, folded: 0, parked: 0 };
    const until = Date.now() + timeoutMs;
    while ((await this.rollups.pendingCount()) > 0) {
      if (Date.now() > until) throw new Error(`telemetry rollups: still pending after ${timeoutMs} ms`);
      const r = await this.fold();
      total.taken += r.taken;
      total.folded += r.folded;
      total.parked += r.parked;
      if (r.locked) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return total;
  }
}
