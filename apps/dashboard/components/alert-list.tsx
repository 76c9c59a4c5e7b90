'use client';

import { useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { groupAlerts, type AlertGroup } from '@/lib/alerts';
import { formatDateTime, humanize } from '@/lib/format';
import { POLL_INTERVAL_MS } from '@/lib/live';
import { useTRPC, type Silence } from '@/lib/trpc';
import { QueryStatus, RefreshError } from './query-status';
import { StatusBadge } from './status-badge';

/** Active alerts grouped by scenario and rule, and the silences in force; live (polled). */
export function AlertList() {
  const trpc = useTRPC();
  const alerts = useQuery(trpc.alerts.list.queryOptions({ state: 'active', limit: 1_000 }, { refetchInterval: POLL_INTERVAL_MS }));
  const silences = useQuery(trpc.alerts.silences.queryOptions(undefined, { refetchInterval: POLL_INTERVAL_MS }));
  return (
    <>
      <header className="page-header">
        <h1>Alerts</h1>
      </header>
      <p className="muted intro">
        Pending and firing alerts from the policy-derived and operator rules, grouped by scenario and rule. A pending alert fires once its
        condition has lasted the rule&apos;s “for” duration.
      </p>
      {alerts.data !== undefined ? (
        <>
          <RefreshError error={alerts.error} />
          <p data-testid="alert-counts">
            <strong>{alerts.data.firing}</strong> firing, <strong>{alerts.data.pending}</strong> pending
          </p>
          <AlertGroups groups={groupAlerts(alerts.data.items)} />
        </>
      ) : (
        <QueryStatus error={alerts.error} what="alerts" />
      )}
      <h2>Silences</h2>
      {silences.data !== undefined ? <SilenceTable items={silences.data.items} /> : <QueryStatus error={silences.error} what="silences" />}
    </>
  );
}

function AlertGroups({ groups }: { groups: AlertGroup[] }) {
  if (groups.length === 0) return <p className="empty-state">No alerts are pending or firing.</p>;
  return (
    <>
      {groups.map((g) => (
        <section key={g.key} data-testid="alert-group">
          <h3>
            {g.scenario ? humanize(g.scenario) : 'Fleet-wide'} · {g.ruleName}{' '}
            <span className="muted">
              ({g.firing} firing, {g.pending} pending)
            </span>
          </h3>
          <table>
            <thead>
              <tr>
                <th>State</th>
                <th>Subject</th>
                <th className="num">Value</th>
                <th className="num">Threshold</th>
                <th>Since</th>
                <th>Silenced</th>
              </tr>
            </thead>
            <tbody>
              {g.items.map((a) => (
                <tr key={a.id} data-testid="alert-row">
                  <td>
                    <StatusBadge status={a.state} />
                  </td>
                  <td className="wrap">
                    {a.metric === 'rollout_failed' ? (
                      <Link href={`/rollouts/${a.subject}`}>{a.subject}</Link>
                    ) : (
                      <Link href={`/devices/${a.subject}`}>{a.subject}</Link>
                    )}
                  </td>
                  <td className="num">{a.value ?? '—'}</td>
                  <td className="num">{a.threshold ?? '—'}</td>
                  <td className="nowrap">{formatDateTime(a.activeAt)}</td>
                  <td>{a.silencedBy ? 'yes' : ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      ))}
    </>
  );
}

function SilenceTable({ items }: { items: Silence[] }) {
  if (items.length === 0) return <p className="empty-state">No silences in force.</p>;
  return (
    <table data-testid="silence-table">
      <thead>
        <tr>
          <th>Matchers</th>
          <th>Until</th>
          <th>By</th>
          <th>Why</th>
        </tr>
      </thead>
      <tbody>
        {items.map((s) => (
          <tr key={s.id}>
            <td className="wrap">{s.matchers.map((m) => `${m.name}=${m.value}`).join(', ')}</td>
            <td className="nowrap">{formatDateTime(s.endsAt)}</td>
            <td>{s.createdBy}</td>
            <td className="wrap reason">{s.comment}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
