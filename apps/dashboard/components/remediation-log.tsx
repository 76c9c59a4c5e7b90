'use client';

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import Link from 'next/link';
import { Fragment, useState } from 'react';
import { formatDateTime, humanize } from '@/lib/format';
import { POLL_INTERVAL_MS } from '@/lib/live';
import {
  MODES,
  REMEDIATION_FIELDS,
  draftFromSettings,
  fieldsNamed,
  remediationInput,
  type RemediationDraft,
  type RemediationField,
} from '@/lib/operations-forms';
import { changeLabel, outcomeLabel } from '@/lib/remediation';
import { errorMessage, useTRPC, type RemediationAction, type RemediationSettings } from '@/lib/trpc';
import { Labelled } from './policy-form';
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

const SETTINGS_COLUMNS = 8;

/** Every scenario's mode and limits; an operator edits one row at a time (audited on the server). */
function SettingsTable({ items }: { items: RemediationSettings[] }) {
  const [editing, setEditing] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  return (
    <>
      {notice && (
        <p className="banner success" role="status" data-testid="remediation-saved">
          {notice}
        </p>
      )}
      <table data-testid="remediation-settings">
        <thead>
          <tr>
            <th>Scenario</th>
            <th>Mode</th>
            <th className="num">Devices / hour</th>
            <th className="num">% / hour</th>
            <th className="num">Hold-off</th>
            <th className="num">Check window</th>
            <th className="num">Rate factor / duty cycle</th>
            <th aria-label="actions" />
          </tr>
        </thead>
        <tbody>
          {items.map((s) => (
            <Fragment key={s.scenario}>
              <tr data-testid="remediation-settings-row" data-scenario={s.scenario}>
                <td>{humanize(s.scenario)}</td>
                <td>
                  <StatusBadge status={s.mode} />
                </td>
                <td className="num">{s.maxDevicesPerHour}</td>
                <td className="num">{s.maxPercentPerHour ?? '—'}</td>
                <td className="num">{s.holdOffSeconds} s</td>
                <td className="num">{s.checkWindowSeconds} s</td>
                <td className="num">
                  {s.rateFactor} / {s.dutyCycle}
                </td>
                <td>
                  <button
                    type="button"
                    className="button small"
                    data-testid={`remediation-edit-${s.scenario}`}
                    onClick={() => {
                      setNotice(null);
                      setEditing(editing === s.scenario ? null : s.scenario);
                    }}
                  >
                    Edit
                  </button>
                </td>
              </tr>
              {editing === s.scenario && (
                <tr>
                  <td colSpan={SETTINGS_COLUMNS}>
                    <SettingsForm
                      settings={s}
                      onCancel={() => setEditing(null)}
                      onSaved={(saved) => {
                        setEditing(null);
                        setNotice(`${humanize(saved.scenario)}: remediation ${saved.mode}, saved.`);
                      }}
                    />
                  </td>
                </tr>
              )}
            </Fragment>
          ))}
        </tbody>
      </table>
    </>
  );
}

const LABELS: Record<RemediationField, string> = {
  mode: 'Mode',
  maxDevicesPerHour: 'Max devices per hour',
  maxPercentPerHour: 'Max % of the scenario per hour (empty: no share limit)',
  holdOffSeconds: 'Hold-off before stepping back up (s)',
  checkWindowSeconds: 'Check window (s)',
  rateFactor: 'Rate factor of a power remedy (0–1)',
  dutyCycle: 'Low-power duty cycle (0.05–1)',
};

/** One scenario's remediation settings; the server judges the values, and its refusal names the field. */
function SettingsForm({
  settings,
  onCancel,
  onSaved,
}: {
  settings: RemediationSettings;
  onCancel: () => void;
  onSaved: (saved: RemediationSettings) => void;
}) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [draft, setDraft] = useState<RemediationDraft>(() => draftFromSettings(settings));
  const [error, setError] = useState<{ text: string; fields: RemediationField[] } | null>(null);
  const update = useMutation(
    trpc.remediation.updateSettings.mutationOptions({
      onSuccess: (saved) => {
        void queryClient.invalidateQueries({ queryKey: trpc.remediation.settings.queryKey() });
        onSaved(saved);
      },
      onError: (e) => {
        const text = errorMessage(e);
        setError({ text, fields: fieldsNamed(text, REMEDIATION_FIELDS) });
      },
    }),
  );
  const invalid = (f: RemediationField) => error?.fields.includes(f) ?? false;
  return (
    <form
      noValidate
      data-testid={`remediation-form-${settings.scenario}`}
      aria-label={`Edit remediation of ${humanize(settings.scenario)}`}
      onSubmit={(e) => {
        e.preventDefault();
        const r = remediationInput(draft);
        if (!r.ok) return setError({ text: `${r.field}: ${r.message}`, fields: [r.field] });
        setError(null);
        update.mutate({ scenario: settings.scenario, settings: r.input });
      }}
    >
      <div className="form-grid">
        {REMEDIATION_FIELDS.map((f) => (
          <Labelled key={f} label={LABELS[f]} invalid={invalid(f)}>
            {f === 'mode' ? (
              <select
                data-testid="remediation-field-mode"
                value={draft.mode}
                onChange={(e) => setDraft((d) => ({ ...d, mode: e.target.value }))}
              >
                {MODES.map((m) => (
                  <option key={m} value={m}>
                    {m}
                  </option>
                ))}
              </select>
            ) : (
              <input
                type="text"
                inputMode="decimal"
                data-testid={`remediation-field-${f}`}
                value={draft[f]}
                aria-invalid={invalid(f)}
                onChange={(e) => setDraft((d) => ({ ...d, [f]: e.target.value }))}
              />
            )}
          </Labelled>
        ))}
      </div>
      <div className="form-actions">
        <button type="submit" className="button primary" disabled={update.isPending} data-testid="remediation-save">
          {update.isPending ? 'Saving…' : 'Save'}
        </button>
        <button type="button" className="button" onClick={onCancel}>
          Cancel
        </button>
        {error && (
          <p className="error" role="alert" data-testid="remediation-error">
            {error.text}
          </p>
        )}
      </div>
    </form>
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
