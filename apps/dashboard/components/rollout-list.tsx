'use client';

import { useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { formatDateTime, humanize } from '@/lib/format';
import { POLL_INTERVAL_MS } from '@/lib/live';
import { waveProgress } from '@/lib/rollouts';
import { useTRPC, type RolloutSummary } from '@/lib/trpc';
import { QueryStatus, RefreshError } from './query-status';
import { StateCounts } from './state-counts';
import { StatusBadge } from './status-badge';

export function RolloutList() {
  const trpc = useTRPC();
  const rollouts = useQuery(trpc.rollouts.list.queryOptions(undefined, { refetchInterval: POLL_INTERVAL_MS }));
  return (
    <>
      <header className="page-header">
        <h1>Rollouts</h1>
        <Link href="/rollouts/new" className="button primary" data-testid="rollout-new">
          New rollout
        </Link>
      </header>
      <p className="muted intro">
        Staged rollouts of a model version: each wave soaks, then health gates judge it before the next wave starts. The latest 200
        rollouts, newest first.
      </p>
      {rollouts.data !== undefined ? (
        <>
          <RefreshError error={rollouts.error} />
          <RolloutTable items={rollouts.data.items} />
        </>
      ) : (
        <QueryStatus error={rollouts.error} what="rollouts" />
      )}
    </>
  );
}

function RolloutTable({ items }: { items: RolloutSummary[] }) {
  if (items.length === 0) return <p className="empty-state">No rollouts yet. Start one with “New rollout”.</p>;
  return (
    <table data-testid="rollout-table">
      <thead>
        <tr>
          <th>Name</th>
          <th>Model</th>
          <th>Status</th>
          <th>Wave</th>
          <th className="num">Devices</th>
          <th>By state</th>
          <th>On failure</th>
          <th>Created</th>
          <th>Reason</th>
        </tr>
      </thead>
      <tbody>
        {items.map((r) => (
          <tr key={r.id} data-testid="rollout-row">
            <td className="wrap">
              <Link href={`/rollouts/${r.id}`} data-testid="rollout-link">
                {r.name}
              </Link>
            </td>
            <td>{r.model}</td>
            <td>
              <StatusBadge status={r.status} label={humanize(r.status)} />
            </td>
            <td className="nowrap">{waveProgress(r.currentWave, r.waves)}</td>
            <td className="num">{r.devices}</td>
            <td>
              <StateCounts byState={r.byState} />
            </td>
            <td>{r.failurePolicy}</td>
            <td className="nowrap" title={r.createdBy}>
              {formatDateTime(r.createdAt)}
            </td>
            <td className="wrap reason">{r.reason}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
