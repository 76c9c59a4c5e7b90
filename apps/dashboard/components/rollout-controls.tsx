'use client';

import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { ACTION_DONE, ACTION_LABELS, abortQuestion, rolloutActions, sumByState, type RolloutAction } from '@/lib/rollouts';
import { errorMessage, useTRPC, type RolloutView } from '@/lib/trpc';
import { ConfirmDialog } from './confirm-dialog';

type Outcome = { ok: true; text: string } | { ok: false; text: string };

/**
 * Pause / Resume / Approve / Abort, each shown only in the statuses it applies to; an abort asks first.
 * A refused action (the rollout moved on meanwhile, say) shows the control plane's message, and stays
 * visible even when the new status leaves no control to show. The rollout an action returns replaces the
 * cached view at once, so the page shows it before the next poll.
 */
export function RolloutControls({ view }: { view: RolloutView }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [confirmingAbort, setConfirmingAbort] = useState(false);
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const actions = rolloutActions(view.status);
  const act = useMutation(
    trpc.rollouts.act.mutationOptions({
      onMutate: () => setOutcome(null),
      onSuccess: (next, { action }) => {
        queryClient.setQueryData(trpc.rollouts.get.queryKey({ id: next.id }), next);
        setOutcome({ ok: true, text: ACTION_DONE[action] });
      },
      onError: (e, { action }) => setOutcome({ ok: false, text: `Could not ${action} the rollout: ${errorMessage(e)}` }),
      onSettled: () => setConfirmingAbort(false),
    }),
  );
  const pending = act.isPending ? act.variables.action : null;
  const run = (action: RolloutAction) => act.mutate({ id: view.id, action });

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
                } else run(a);
              }}
            >
              {pending === a ? `${ACTION_LABELS[a]}…` : ACTION_LABELS[a]}
            </button>
          ))}
        </div>
      )}
      {confirmingAbort && actions.includes('abort') && (
        <ConfirmDialog
          testId="rollout-abort"
          label="Confirm abort"
          yes={{ label: 'Yes, abort the rollout', pending: 'Aborting…' }}
          pending={pending === 'abort'}
          busy={pending !== null}
          onYes={() => run('abort')}
          onNo={() => setConfirmingAbort(false)}
        >
          <p>{abortQuestion(view.name, sumByState(view.waves.map((w) => w.byState)))}</p>
        </ConfirmDialog>
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
