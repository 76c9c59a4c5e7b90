'use client';

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { formatDateTime } from '@/lib/format';
import { POLL_INTERVAL_MS } from '@/lib/live';
import { errorMessage, useTRPC } from '@/lib/trpc';

/** Reasons shown; the control plane sends up to 20, most frequent first. */
const REASONS_SHOWN = 3;

/**
 * Telemetry windows the rollup fold set aside because the database refused their rollup: stored,
 * but in no rollup, so the figures read from rollups leave them out until an admin requeues them
 * (once the cause is fixed). Shown only when there are any, and only to an unscoped token (they are
 * of any device; the control plane refuses a scoped one); the requeue form only to an admin.
 */
export function ParkedTelemetry() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const me = useQuery(trpc.session.me.queryOptions(undefined, { staleTime: 60_000 }));
  const unscoped = me.data !== undefined && me.data.scenarios.length === 0 && Object.keys(me.data.labels).length === 0;
  const parked = useQuery(trpc.telemetry.parked.queryOptions(undefined, { enabled: unscoped, refetchInterval: POLL_INTERVAL_MS }));
  const [reason, setReason] = useState('');
  const [outcome, setOutcome] = useState<{ ok: boolean; text: string } | null>(null);
  const requeue = useMutation(
    trpc.telemetry.requeueParked.mutationOptions({
      onMutate: () => setOutcome(null),
      onSuccess: (r) => {
        setReason('');
        setOutcome({
          ok: true,
          text: `${r.requeued.toLocaleString('en-US')} windows went back to the fold; any refused again are set aside again.`,
        });
      },
      onError: (e) => setOutcome({ ok: false, text: `Could not requeue the windows: ${errorMessage(e)}` }),
      onSettled: () => queryClient.invalidateQueries({ queryKey: trpc.telemetry.parked.queryKey() }),
    }),
  );
  const data = parked.data;
  if (!data || (data.windows === 0 && !outcome)) return null;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    requeue.mutate({ reason });
  };
  return (
    <section aria-label="Telemetry left out of the rollups" data-testid="parked-telemetry">
      {data.windows > 0 && (
        <div className="banner error" role="alert">
          <p data-testid="parked-telemetry-count">
            <strong>
              {data.windows.toLocaleString('en-US')} telemetry {data.windows === 1 ? 'window is' : 'windows are'} in no rollup
            </strong>
            {data.oldestWindowStart && <> (the oldest from {formatDateTime(data.oldestWindowStart)})</>}: the database refused their rollup,
            so the 24 h figures, the charts longer than an hour, the alerts and the rollout gates&apos; baselines leave them out. They are
            stored; fix the cause, then requeue them.
          </p>
          <ul data-testid="parked-telemetry-reasons">
            {data.reasons.slice(0, REASONS_SHOWN).map((r) => (
              <li key={r.reason}>
                {r.reason} — {r.windows.toLocaleString('en-US')} windows, last set aside {formatDateTime(r.lastParkedAt)}
              </li>
            ))}
          </ul>
          {me.data?.role === 'admin' ? (
            <form className="form-actions" onSubmit={submit}>
              <label className="field">
                <span className="field-label">Why requeue (kept in the audit log)</span>
                <input
                  data-testid="parked-telemetry-reason"
                  value={reason}
                  maxLength={500}
                  required
                  onChange={(e) => setReason(e.target.value)}
                  placeholder="e.g. rollup row of device 42 repaired"
                />
              </label>
              <button type="submit" className="button" disabled={requeue.isPending} data-testid="parked-telemetry-requeue">
                {requeue.isPending ? 'Requeueing…' : 'Requeue them'}
              </button>
            </form>
          ) : (
            <p className="muted">An admin can requeue them once the cause is fixed.</p>
          )}
        </div>
      )}
      {outcome && (
        <p
          className={`banner ${outcome.ok ? 'success' : 'error'}`}
          role={outcome.ok ? 'status' : 'alert'}
          data-testid="parked-telemetry-outcome"
        >
          {outcome.text}
        </p>
      )}
    </section>
  );
}
