import { Injectable } from '@nestjs/common';
import type { CommittedTransition } from './alert-evaluation.repository.js';

export type { CommittedTransition };
export type AlertTransitionListener = (transitions: readonly CommittedTransition[]) => Promise<void> | void;

/**
 * The seam for other modules (remediation, M14): every committed alert state transition of a pass
 * is handed to each subscriber after its transaction commits. A failing listener is logged by the
 * caller and does not undo or hold up the pass.
 */
@Injectable()
export class AlertEvents {
  private readonly listeners: AlertTransitionListener[] = [];

  subscribe(listener: AlertTransitionListener): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  /** Settles once every listener has; returns the errors of those that failed. */
  async emit(transitions: readonly CommittedTransition[]): Promise<unknown[]> {
    if (transitions.length === 0) return [];
    const results = await Promise.allSettled(this.listeners.map(async (l) => l(transitions)));
    return results.flatMap((r): unknown[] => (r.status === 'rejected' ? [r.reason as unknown] : []));
  }
}
