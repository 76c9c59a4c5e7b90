import type { RemediationAction, RemediationOverride } from './api-types';

/** What an override puts on a device, in words ("nothing" when it is the assignment as issued). */
export function overrideLabel(o: RemediationOverride | null): string {
  if (!o) return 'nothing (as assigned)';
  const parts = [
    o.precision ? o.precision.toUpperCase() : null,
    o.maxRateHz !== null ? `rate ≤ ${o.maxRateHz} Hz` : null,
    o.dutyCycle !== null ? `low-power ${Math.round(o.dutyCycle * 100)} % duty` : null,
  ].filter((p): p is string => p !== null);
  return parts.length ? parts.join(', ') : 'nothing (as assigned)';
}

const OUTCOMES: Record<RemediationAction['status'], string> = {
  pending: 'waiting for an operator',
  rejected: 'rejected: nothing changed',
  expired: 'expired: its alert ended first',
  applied: 'applied, check running',
  helped: 'helped: the alert ended',
  escalated: 'did not help: the next step followed',
  failed: 'did not help: reverted',
  skipped: 'not possible (see why)',
  reverted: 'undone after the hold-off',
  superseded: 'replaced by a new assignment',
};

/** Whether it helped, in words; the figures after are added where the check recorded them. */
export function outcomeLabel(a: Pick<RemediationAction, 'status' | 'figuresAfter'>): string {
  const after = a.figuresAfter;
  const metric = typeof after?.metric === 'string' ? after.metric : 'value';
  const value = after && typeof after.value === 'number' ? ` (${metric} ${after.value} at the check)` : '';
  return `${OUTCOMES[a.status]}${value}`;
}

/** "FP16 → INT8"-style change of one action. */
export function changeLabel(a: Pick<RemediationAction, 'before' | 'after'>): string {
  return `${overrideLabel(a.before)} → ${overrideLabel(a.after)}`;
}
