import { ACTIVE_ROLLOUT_STATUSES, type CreateRollout } from '@edge-fleet/shared';
import type { PublishDesiredJob } from '../desired-state/desired-state.queue.js';
import type { TxOptions } from '../infra/unit-of-work.js';

/** The stored plan: the create request without target and model. */
export type RolloutPlan = Pick<CreateRollout, 'waves' | 'gates' | 'failurePolicy' | 'notifyRatePerSecond'>;

/** What a step leaves to do once its transaction has committed. */
export interface FollowUps {
  desired: PublishDesiredJob[];
  step: { rolloutId: string; step: number; delayMs: number } | null;
}

export const none = (): FollowUps => ({ desired: [], step: null });

/** A step may write thousands of rows; another replica's step holds the row lock meanwhile. */
export const ROLLOUT_TX: TxOptions = { timeoutMs: 120_000, maxWaitMs: 10_000 };

/** A rollout in one of these statuses holds its devices (one active rollout per device). */
export function isActive(status: string): boolean {
  return (ACTIVE_ROLLOUT_STATUSES as readonly string[]).includes(status);
}

export function groupBy<T, K>(xs: readonly T[], key: (x: T) => K): Map<K, T[]> {
  const m = new Map<K, T[]>();
  for (const x of xs) {
    const k = key(x);
    const l = m.get(k) ?? [];
    l.push(x);
    m.set(k, l);
  }
  return m;
}

/** Notifications at the rollout's rate, each with up to one slot of random jitter. */
export function spread(jobs: PublishDesiredJob[], perSecond: number): PublishDesiredJob[] {
  const slot = 1_000 / perSecond;
  return jobs.map((j, i) => ({ ...j, delayMs: Math.floor(i * slot + Math.random() * slot) }));
}
