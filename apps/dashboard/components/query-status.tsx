import { errorCode, errorMessage } from '@/lib/trpc';

/** What a live view shows before its first answer: loading, not found, or the error. */
export function QueryStatus({ error, what }: { error: unknown; what: string }) {
  if (error === null) return <p className="muted">Loading {what}…</p>;
  if (errorCode(error) === 'NOT_FOUND') return <p className="empty-state">Not found: {errorMessage(error)}</p>;
  return (
    <p className="banner error" role="alert">
      Could not load the {what}: {errorMessage(error)}
    </p>
  );
}

/** A failed refresh of a view that already shows data: the data stays, with this above it. */
export function RefreshError({ error }: { error: unknown }) {
  if (error === null) return null;
  return <p className="banner error">Refresh failed: {errorMessage(error)}</p>;
}
