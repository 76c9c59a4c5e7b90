import type { PollState } from '@/lib/use-polling';

/** What a polled page shows before its first answer: loading, not found, or the error. */
export function PollStatus({ state, what }: { state: Exclude<PollState<unknown>, { status: 'ok' }>; what: string }) {
  if (state.status === 'loading') return <p className="muted">Loading {what}…</p>;
  if (state.code === 'NOT_FOUND') return <p className="empty-state">Not found: {state.error}</p>;
  return (
    <p className="banner error" role="alert">
      Could not load the {what}: {state.error}
    </p>
  );
}
