'use client';

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import Link from 'next/link';
import { useState } from 'react';
import { formatDateTime, humanize } from '@/lib/format';
import { POLL_INTERVAL_MS } from '@/lib/live';
import { changeLabel, outcomeLabel } from '@/lib/remediation';
import { errorMessage, useTRPC, type RemediationAction, type RemediationSettings } from '@/lib/trpc';
import { QueryStatus, RefreshError } from './query-status';
import { StatusBadge } from './status-badge';

/** The remediation log (M14): every action, newest first, with why and whether it helped; live (polled). */
export function RemediationLog() {
  const trpc = useTRPC();
  const live = { refetchInterval: POLL_INTERVAL_MS };
  const actions = useQuery(trpc.remediation.actions.queryOptions({ limit: 200 }, live));
  const settings = useQuery(trpc.remediation.settings.queryOptions(undefined, live));
  return (
    <>
      <header className="page-header">
        <h1>Remediation</h1>
      </header>
      <p className="muted intro">
        What the control plane changed on devices to end an alert (lower precision, a smaller variant, a rate cap, low-power mode), why, and
        whether it helped. In suggest mode an action waits here for an operator.
      </p>
      {settings.data !== undefined ? <SettingsTable items={settings.data.items} /> : <QueryStatus error={settings.error} what="settings" />}
      <h2>Log</h2>
      {actions.data !== undefined ? (
        <>
          <RefreshError error={actions.error} />
          <ActionTable items={actions.data.items} showDevice />
        </>
      ) : (
        <QueryStatus error={actions.error} what="remediation log" />
      )}
    </>
  );
}

function SettingsTable({ items }: { items: RemediationSettings[] }) {
  return (
    <table data-testid="remediation-settings">
      <thead>
        <tr>
          <th>Scenario</th>
          <th>Mode</th>
          <th className="num">Devices / hour</th>
          <th className="num">% / hour</th>
          <th className="num">Hold-off</th>
          <th className="num">Check window</th>
        </tr>
      </thead>
      <tbody>
        {items.map((s) => (
          <tr key={s.scenario}>
            <td>{humanize(s.scenario)}</td>
            <td>
              <StatusBadge status={s.mode} />
            </td>
            <td className="num">{s.maxDevicesPerHour}</td>
            <td className="num">{s.maxPercentPerHour ?? '—'}</td>
            <td className="num">{s.holdOffSeconds} s</td>
            <td className="num">{s.checkWindowSeconds} s</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** Actions with their change, reason and outcome; pending ones get Approve / Reject. */
export function ActionTable({ items, showDevice = false }: { items: RemediationAction[]; showDevice?: boolean }) {
  if (items.length === 0) return <p className="empty-state">No remediation actions.</p>;
  return (
    <table data-testid="remediation-actions">
      <thead>
        <tr>
          <th>When</th>
          {showDevice && <th>Device</th>}
          <th>Action</th>
          <th>Change</th>
          <th>Why</th>
          <th>Outcome</th>
          <th />
        </tr>
      </thead>
      <tbody>
        {items.map((a) => (
          <tr key={a.id} data-testid="remediation-row">
            <td className="nowrap">{formatDateTime(a.createdAt)}</td>
            {showDevice && (
              <td className="wrap">
                <Link href={`/devices/${a.deviceId}`}>{a.deviceName ?? a.deviceId}</Link>
              </td>
            )}
            <td>
              {humanize(a.kind)} <span className="muted">({a.rule})</span>
            </td>
            <td>{changeLabel(a)}</td>
            <td className="wrap reason">{a.reason}</td>
            <td>
              <StatusBadge status={a.status} /> {outcomeLabel(a)}
              {a.decidedBy && <span className="muted"> · {a.decidedBy}</span>}
            </td>
            <td>{a.status === 'pending' && <Decide id={a.id} />}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Decide({ id }: { id: string }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [error, setError] = useState<string | null>(null);
  const options = {
    onMutate: () => setError(null),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: trpc.remediation.pathKey() }),
    onError: (e: unknown) => setError(errorMessage(e)),
  };
  const approve = useMutation(trpc.remediation.approve.mutationOptions(options));
  const reject = useMutation(trpc.remediation.reject.mutationOptions(options));
  const busy = approve.isPending || reject.isPending;
  return (
    <div className="form-actions">
      <button
        type="button"
        className="button primary"
        disabled={busy}
        data-testid="remediation-approve"
        onClick={() => approve.mutate({ id })}
      >
        Approve
      </button>
      <button type="button" className="button" disabled={busy} data-testid="remediation-reject" onClick={() => reject.mutate({ id })}>
        Reject
      </button>
      {error && <p className="error">{error}</p>}
    </div>
  );
}
