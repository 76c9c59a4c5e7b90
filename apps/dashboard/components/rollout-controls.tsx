'use client';

import { useState } from 'react';
import { useRouter } from 'next/navigation';
import { ACTION_DONE, ACTION_LABELS, abortQuestion, rolloutActions, sumByState, type RolloutAction } from '@/lib/rollouts';
import { errorCode, errorMessage, trpc, type RolloutView } from '@/lib/trpc';

type Outcome = { ok: true; text: string } | { ok: false; text: string };

/**
 * Pause / Resume / Approve / Abort, each shown only in the statuses it applies to; an abort asks first.
 * A refused action (the rollout moved on meanwhile, say) shows the control plane's message, and stays
 * visible even when the new status leaves no control to show.
 */
export function RolloutControls({ view, onDone }: { view: RolloutView; onDone: (next: RolloutView) => void }) {
  const router = useRouter();
  const [pending, setPending] = useState<RolloutAction | null>(null);
  const [confirmingAbort, setConfirmingAbort] = useState(false);
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const actions = rolloutActions(view.status);

  const run = async (action: RolloutAction) => {
    setPending(action);
    setOutcome(null);
    try {
      const next = await trpc.rollouts.act.mutate({ id: view.id, action });
      setConfirmingAbort(false);
      setOutcome({ ok: true, text: ACTION_DONE[action] });
      onDone(next);
    } catch (e) {
      if (errorCode(e) === 'UNAUTHORIZED') {
        router.replace('/login');
        return;
      }
      setConfirmingAbort(false);
      setOutcome({ ok: false, text: `Could not ${action} the rollout: ${errorMessage(e)}` });
    } finally {
      setPending(null);
    }
  };

  return (
    <section className="rollout-controls" aria-label="Rollout controls">
      {actions.length > 0 && !confirmingAbort && (
        <div className="form-actions">
          {actions.map((a) => (
            <button
              key={a}
              type="button"
              className={a === 'approve' ? 'button primary' : a === 'abort' ? 'button danger' : 'button'}
              disabled={pending !== null}
              data-testid={`rollout-${a}`}
              onClick={() => {
                if (a === 'abort') {
                  setOutcome(null);
                  setConfirmingAbort(true);
                } else void run(a);
              }}
            >
              {pending === a ? `${ACTION_LABELS[a]}…` : ACTION_LABELS[a]}
            </button>
          ))}
        </div>
      )}
      {confirmingAbort && actions.includes('abort') && (
        <div className="confirm" role="alertdialog" aria-label="Confirm abort" data-testid="rollout-abort-confirm">
          <p>{abortQuestion(view.name, sumByState(view.waves.map((w) => w.byState)))}</p>
          <div className="form-actions">
            <button
              type="button"
              className="button danger"
              disabled={pending !== null}
              data-testid="rollout-abort-yes"
              onClick={() => void run('abort')}
            >
              {pending === 'abort' ? 'Aborting…' : 'Yes, abort the rollout'}
            </button>
            <button
              type="button"
              className="button"
              disabled={pending !== null}
              data-testid="rollout-abort-no"
              onClick={() => setConfirmingAbort(false)}
            >
              Cancel
            </button>
          </div>
        </div>
      )}
      {outcome &&
        (outcome.ok ? (
          <p className="banner success" role="status" data-testid="rollout-action-done">
            {outcome.text}
          </p>
        ) : (
          <p className="banner error" role="alert" data-testid="rollout-action-error">
            {outcome.text}
          </p>
        ))}
    </section>
  );
}
