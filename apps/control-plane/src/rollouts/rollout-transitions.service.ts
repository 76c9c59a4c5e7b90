import { Inject, Injectable } from '@nestjs/common';
import { DesiredStateService } from '../desired-state/desired-state.service.js';
import { AuditRepository } from '../infra/audit.repository.js';
import type { Tx } from '../infra/unit-of-work.js';
import type { FollowUps } from './rollout-plan.js';
import { RolloutQueue } from './rollout.queue.js';
import { RolloutRepository, type RolloutRow } from './rollout.repository.js';

/** Moves rollouts through their states, and sends what a committed step leaves to do. */
@Injectable()
export class RolloutTransitionsService {
  constructor(
    @Inject(RolloutRepository) private readonly rollouts: RolloutRepository,
    @Inject(AuditRepository) private readonly audit: AuditRepository,
    @Inject(RolloutQueue) private readonly queue: RolloutQueue,
    @Inject(DesiredStateService) private readonly desired: DesiredStateService,
  ) {}

  /** Moves the rollout on one step (stale jobs for the old step then do nothing) and records why. */
  async transition(tx: Tx, r: RolloutRow, data: { status?: string; reason?: string; currentWave?: number }): Promise<number> {
    const step = r.step + 1;
    await this.rollouts.update(tx, r.id, { ...data, ...(data.reason ? { reason: data.reason.slice(0, 4_000) } : {}), step });
    if (data.status && data.status !== r.status) {
      await this.audit.append(tx, {
        actor: 'system',
        action: 'rollout.status',
        targetType: 'rollout',
        targetId: r.id,
        details: { from: r.status, to: data.status, reason: data.reason ?? '' },
      });
    }
    r.step = step;
    if (data.status) r.status = data.status;
    return step;
  }

  /** After the commit: the devices' notifications and the rollout's next step. */
  async apply(f: FollowUps): Promise<void> {
    if (f.desired.length) await this.desired.enqueue(f.desired);
    if (f.step) await this.queue.enqueue({ rolloutId: f.step.rolloutId, step: f.step.step }, f.step.delayMs);
  }
}
