'use client';

import { useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { auditQuery, EMPTY_AUDIT_FILTERS, verificationText, type AuditFilterDraft } from '@/lib/audit-filters';
import { formatDateTime } from '@/lib/format';
import { useTRPC, type AuditEvent, type AuditVerification } from '@/lib/trpc';
import { QueryStatus, RefreshError } from './query-status';

const FIELDS: { key: keyof AuditFilterDraft; label: string; type: 'search' | 'datetime-local'; placeholder?: string }[] = [
  { key: 'action', label: 'Action', type: 'search', placeholder: 'e.g. api_token.revoke' },
  { key: 'actor', label: 'Actor', type: 'search', placeholder: 'e.g. operator:<token id>' },
  { key: 'targetType', label: 'Target type', type: 'search', placeholder: 'e.g. device' },
  { key: 'targetId', label: 'Target (device id, …)', type: 'search' },
  { key: 'fromLocal', label: 'From', type: 'datetime-local' },
  { key: 'toLocal', label: 'Until', type: 'datetime-local' },
];

/** The audit log (auditor, admin): filtered, newest first, paged by id; and whether its hash chain is intact. */
export function AuditLog() {
  const trpc = useTRPC();
  const [draft, setDraft] = useState<AuditFilterDraft>(EMPTY_AUDIT_FILTERS);
  const [applied, setApplied] = useState<AuditFilterDraft>(EMPTY_AUDIT_FILTERS);
  // ids of the pages before this one's start: "Newer" pops, "Older" pushes
  const [cursors, setCursors] = useState<(number | undefined)[]>([undefined]);
  const [error, setError] = useState<string | null>(null);
  const before = cursors.at(-1);
  const q = auditQuery(applied, before);
  const input = 'input' in q ? q.input : { limit: 1 };
  const events = useQuery(trpc.audit.list.queryOptions(input));
  const verify = useQuery(trpc.audit.verify.queryOptions(undefined, { enabled: false }));
  return (
    <>
      <header className="page-header">
        <h1>Audit log</h1>
      </header>
      <p className="muted intro">
        Every change, sign-in, refused request and lockout, newest first. Each event carries the hash of the one before it, so a change made
        around the control plane (in the database) breaks the chain at the first altered event.
      </p>
      <section data-testid="audit-verify">
        <button
          type="button"
          className="button"
          onClick={() => void verify.refetch()}
          disabled={verify.isFetching}
          data-testid="audit-verify-run"
        >
          {verify.isFetching ? 'Verifying…' : 'Verify the chain'}
        </button>{' '}
        {verify.data && <VerifyResult v={verify.data} />}
        {verify.error && <QueryStatus error={verify.error} what="verification" />}
      </section>
      <form
        className="filters"
        aria-label="Audit filters"
        onSubmit={(e) => {
          e.preventDefault();
          const r = auditQuery(draft);
          if ('error' in r) return setError(r.error);
          setError(null);
          setApplied(draft);
          setCursors([undefined]);
        }}
      >
        {FIELDS.map((f) => (
          <label key={f.key}>
            {f.label}
            <input
              type={f.type}
              placeholder={f.placeholder}
              value={draft[f.key]}
              data-testid={`audit-filter-${f.key}`}
              onChange={(e) => setDraft({ ...draft, [f.key]: e.target.value })}
            />
          </label>
        ))}
        <button type="submit" className="button primary" data-testid="audit-filter-apply">
          Filter
        </button>
        {error && (
          <p className="error" role="alert" data-testid="audit-filter-error">
            {error}
          </p>
        )}
      </form>
      {events.data !== undefined ? (
        <>
          <RefreshError error={events.error} />
          <AuditTable items={events.data.items} />
          <div className="form-actions">
            <button type="button" className="button" disabled={cursors.length <= 1} onClick={() => setCursors((c) => c.slice(0, -1))}>
              Newer
            </button>
            <button
              type="button"
              className="button"
              disabled={events.data.nextBefore === null}
              data-testid="audit-older"
              onClick={() => setCursors((c) => [...c, events.data.nextBefore ?? undefined])}
            >
              Older
            </button>
          </div>
        </>
      ) : (
        <QueryStatus error={events.error} what="audit log" />
      )}
    </>
  );
}

export function VerifyResult({ v }: { v: AuditVerification }) {
  return (
    <span className={v.ok ? 'badge status-active' : 'banner error'} role={v.ok ? 'status' : 'alert'} data-testid="audit-verify-result">
      {verificationText(v)}
    </span>
  );
}

export function AuditTable({ items }: { items: AuditEvent[] }) {
  if (items.length === 0) return <p className="empty-state">No events match.</p>;
  return (
    <table data-testid="audit-table">
      <thead>
        <tr>
          <th className="num">#</th>
          <th>When</th>
          <th>Actor</th>
          <th>Action</th>
          <th>Target</th>
          <th>Details</th>
        </tr>
      </thead>
      <tbody>
        {items.map((e) => (
          <tr key={e.id} data-testid="audit-row">
            <td className="num">{e.id}</td>
            <td className="nowrap">{formatDateTime(e.at)}</td>
            <td className="wrap">{e.actor}</td>
            <td>{e.action}</td>
            <td className="wrap">
              {e.targetType} {e.targetId}
            </td>
            <td className="wrap">
              <code>{JSON.stringify(e.details)}</code>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
