import type { AlertState } from '@edge-fleet/shared/api';

/** What one evaluation pass measured for one (rule, subject). */
export interface Observation {
  value: number | null;
  threshold: number | null;
  /** The condition holds (value on the bad side of the threshold). */
  breach: boolean;
  /** The value is on the good side of the hysteresis band: a firing alert may resolve. */
  clear: boolean;
}

/** The stored alert as the state machine needs it (null: the pair never alerted). */
export interface AlertSnapshot {
  state: AlertState;
  activeAt: Date | null;
}

export interface Step {
  state: AlertState;
  activeAt: Date | null;
  /** Set when the state changes: the transition to store. */
  transition: { from: AlertState; to: AlertState } | null;
}

/**
 * The alert state machine, Prometheus-style, with hysteresis on resolve:
 * a breach makes an alert `pending`; it fires once the breach has lasted `forSeconds`; a pending
 * alert whose condition stops (or whose data stops) goes back to `inactive` without notifying; a
 * firing alert resolves only once the value is clear of the hysteresis band (a value between the
 * band and the threshold keeps it firing, so input flapping around the threshold does not flap the
 * alert), and a firing alert with no data stays firing (silence is its own rule).
 */
export function nextState(prev: AlertSnapshot | null, obs: Observation | null, forSeconds: number, now: Date): Step {
  const state: AlertState = prev?.state ?? 'inactive';
  const activeAt = prev?.activeAt ?? null;
  const go = (to: AlertState, at: Date | null): Step => ({
    state: to,
    activeAt: at,
    transition: to === state ? null : { from: state, to },
  });
  switch (state) {
    case 'inactive':
    case 'resolved':
      if (!obs?.breach) return go(state, activeAt);
      return go(forSeconds === 0 ? 'firing' : 'pending', now);
    case 'pending':
      if (!obs?.breach) return go('inactive', null);
      if (activeAt && now.getTime() - activeAt.getTime() >= forSeconds * 1_000) return go('firing', activeAt);
      return go('pending', activeAt ?? now);
    case 'firing':
      return obs?.clear ? go('resolved', activeAt) : go('firing', activeAt);
  }
}
