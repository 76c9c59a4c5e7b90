import { humanize } from '@/lib/format';
import { stateCounts } from '@/lib/rollouts';

/** Rollout device counts by state, e.g. "applied 8 · notified 2 · failed 1"; nothing counted reads "none". */
export function StateCounts({ byState }: { byState: Record<string, number> }) {
  const counts = stateCounts(byState);
  if (counts.length === 0) return <span className="muted">none</span>;
  return (
    <ul className="state-counts">
      {counts.map((c) => (
        <li key={c.state} className={`state-${c.state}`} data-testid={`count-${c.state}`}>
          {humanize(c.state)} <strong>{c.count}</strong>
        </li>
      ))}
    </ul>
  );
}
