'use client';

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import Link from 'next/link';
import { useState } from 'react';
import { groupAlerts, type AlertGroup } from '@/lib/alerts';
import { formatDateTime, humanize } from '@/lib/format';
import { POLL_INTERVAL_MS } from '@/lib/live';
import { LABELS, fieldsNamed, silenceInput, type SilenceDraft } from '@/lib/operations-forms';
import { errorMessage, useTRPC, type Silence } from '@/lib/trpc';
import { AlertRules } from './alert-rules';
import { Labelled } from './policy-form';
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
      <SilenceForm />
      {silences.data !== undefined ? <SilenceTable items={silences.data.items} /> : <QueryStatus error={silences.error} what="silences" />}
      <AlertRules />
    </>
  );
}

const SILENCE_FIELDS = ['matchers', 'durationSeconds', 'comment'] as const;

/** Silences an alert's notifications while it holds: label = value matchers (all must match), how long, and why. */
function SilenceForm() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [draft, setDraft] = useState<SilenceDraft>({ matchers: '', durationHours: '2', comment: '' });
  const [error, setError] = useState<{ text: string; fields: string[] } | null>(null);
  const create = useMutation(
    trpc.alerts.createSilence.mutationOptions({
      onSuccess: () => {
        setDraft({ matchers: '', durationHours: '2', comment: '' });
        void queryClient.invalidateQueries({ queryKey: trpc.alerts.pathKey() });
      },
      onError: (e) => {
        const text = errorMessage(e);
        setError({ text, fields: fieldsNamed(text, SILENCE_FIELDS) });
      },
    }),
  );
  const invalid = (f: string) => error?.fields.some((x) => x === f || (f === 'durationHours' && x === 'durationSeconds')) ?? false;
  const set = (k: keyof SilenceDraft, v: string) => setDraft((d) => ({ ...d, [k]: v }));
  return (
    <form
      className="panel"
      noValidate
      data-testid="silence-form"
      aria-label="New silence"
      onSubmit={(e) => {
        e.preventDefault();
        const r = silenceInput(draft);
        if (!r.ok) return setError({ text: `${r.field}: ${r.message}`, fields: [r.field] });
        setError(null);
        create.mutate(r.input);
      }}
    >
      <div className="form-grid">
        <Labelled label={`Matchers (label=value, comma-separated; labels: ${LABELS.join(', ')})`} invalid={invalid('matchers')}>
          <input
            type="text"
            data-testid="silence-field-matchers"
            placeholder="alertname=latency_over_target, scenario=financial_trading"
            value={draft.matchers}
            onChange={(e) => set('matchers', e.target.value)}
          />
        </Labelled>
        <Labelled label="For (hours)" invalid={invalid('durationHours')}>
          <input
            type="text"
            inputMode="decimal"
            data-testid="silence-field-duration"
            value={draft.durationHours}
            onChange={(e) => set('durationHours', e.target.value)}
          />
        </Labelled>
        <Labelled label="Why" invalid={invalid('comment')}>
          <input type="text" data-testid="silence-field-comment" value={draft.comment} onChange={(e) => set('comment', e.target.value)} />
        </Labelled>
      </div>
      <div className="form-actions">
        <button type="submit" className="button primary" disabled={create.isPending} data-testid="silence-save">
          {create.isPending ? 'Silencing…' : 'Silence'}
        </button>
        {error && (
          <p className="error" role="alert" data-testid="silence-error">
            {error.text}
          </p>
        )}
      </div>
    </form>
  );
}

function ExpireSilence({ id }: { id: string }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [error, setError] = useState<string | null>(null);
  const expire = useMutation(
    trpc.alerts.expireSilence.mutationOptions({
      onSuccess: () => void queryClient.invalidateQueries({ queryKey: trpc.alerts.pathKey() }),
      onError: (e) => setError(errorMessage(e)),
    }),
  );
  return (
    <>
      <button
        type="button"
        className="button small"
        disabled={expire.isPending}
        data-testid="silence-expire"
        onClick={() => expire.mutate({ id })}
      >
        Expire now
      </button>
      {error && <span className="error">{error}</span>}
    </>
  );
}

function AlertGroups({ groups }: { groups: AlertGroup[] }) {
  if (groups.length === 0) return <p className="empty-state">No alerts are pending or firing.</p>;
  return (
    <>
      {groups.map((g) => (
        <section key={g.key} data-testid="alert-group" data-rule={g.ruleName}>
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
          <th aria-label="actions" />
        </tr>
      </thead>
      <tbody>
        {items.map((s) => (
          <tr key={s.id} data-testid="silence-row">
            <td className="wrap">{s.matchers.map((m) => `${m.name}=${m.value}`).join(', ')}</td>
            <td className="nowrap">{formatDateTime(s.endsAt)}</td>
            <td>{s.createdBy}</td>
            <td className="wrap reason">{s.comment}</td>
            <td>
              <ExpireSilence id={s.id} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
