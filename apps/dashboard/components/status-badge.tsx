/** A status as a coloured pill; `label` is what it reads (the raw status by default). */
export function StatusBadge({ status, label }: { status: string; label?: string }) {
  return <span className={`badge status-${status}`}>{label ?? status}</span>;
}
