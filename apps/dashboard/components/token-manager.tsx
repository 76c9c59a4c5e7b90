'use client';

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { formatDateTime, humanize } from '@/lib/format';
import { SCENARIOS } from '@/lib/rollout-form';
import { canChange, ROLE_HELP, ROLES, scopeLabel, tokenInput, type TokenDraft } from '@/lib/tokens';
import { errorMessage, useTRPC, type ApiToken, type ApiTokenSecret } from '@/lib/trpc';
import { QueryStatus, RefreshError } from './query-status';
import { SecretOnce } from './secret-once';
import { StatusBadge } from './status-badge';

const EMPTY: TokenDraft = { name: '', role: 'viewer', scenarios: [], labels: '', expiresLocal: '' };

/** Operator API tokens (admin): create with a role, scope and expiry; rotate; revoke. A secret is shown once. */
export function TokenManager() {
  const trpc = useTRPC();
  const tokens = useQuery(trpc.tokens.list.queryOptions());
  const [secret, setSecret] = useState<ApiTokenSecret | null>(null);
  return (
    <>
      <header className="page-header">
        <h1>API tokens</h1>
      </header>
      <p className="muted intro">
        Tokens for scripts and people. Only a hash of each secret is kept: a new secret is shown once, here. Rotating gives a token a new
        secret and ends the old one and its dashboard sessions at once; revoking ends the token.
      </p>
      {secret && <TokenSecret created={secret} onDone={() => setSecret(null)} />}
      <CreateToken onCreated={setSecret} />
      <h2>Tokens</h2>
      {tokens.data !== undefined ? (
        <>
          <RefreshError error={tokens.error} />
          <TokenTable items={tokens.data.items} onSecret={setSecret} />
        </>
      ) : (
        <QueryStatus error={tokens.error} what="tokens" />
      )}
    </>
  );
}

/** A token's new secret, once: the page does not keep it after "Done". */
export function TokenSecret({ created, onDone }: { created: ApiTokenSecret; onDone: () => void }) {
  return (
    <SecretOnce testId="token-secret" secret={created.secret} onDone={onDone}>
      <p>
        The secret of <strong>{created.token.name}</strong>:
      </p>
    </SecretOnce>
  );
}

function CreateToken({ onCreated }: { onCreated: (s: ApiTokenSecret) => void }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [draft, setDraft] = useState<TokenDraft>(EMPTY);
  const [errors, setErrors] = useState<string[]>([]);
  const create = useMutation(
    trpc.tokens.create.mutationOptions({
      onSuccess: (s) => {
        setDraft(EMPTY);
        onCreated(s);
        void queryClient.invalidateQueries({ queryKey: trpc.tokens.pathKey() });
      },
      onError: (e) => setErrors([errorMessage(e)]),
    }),
  );
  const toggle = (s: string) =>
    setDraft((d) => ({ ...d, scenarios: d.scenarios.includes(s) ? d.scenarios.filter((x) => x !== s) : [...d.scenarios, s] }));
  return (
    <form
      className="token-form"
      aria-label="New API token"
      data-testid="token-form"
      onSubmit={(e) => {
        e.preventDefault();
        const r = tokenInput(draft);
        if ('errors' in r) return setErrors(r.errors);
        setErrors([]);
        create.mutate(r.input);
      }}
    >
      <div className="filters">
        <label>
          Name
          <input
            type="search"
            maxLength={100}
            required
            value={draft.name}
            data-testid="token-field-name"
            onChange={(e) => setDraft({ ...draft, name: e.target.value })}
          />
        </label>
        <label>
          Role
          <select value={draft.role} data-testid="token-field-role" onChange={(e) => setDraft({ ...draft, role: e.target.value })}>
            {ROLES.map((r) => (
              <option key={r} value={r}>
                {r}: {ROLE_HELP[r]}
              </option>
            ))}
          </select>
        </label>
        <label>
          Device labels (e.g. site=berlin; empty: any device)
          <input
            value={draft.labels}
            placeholder="site=berlin, rack=7"
            data-testid="token-field-labels"
            onChange={(e) => setDraft({ ...draft, labels: e.target.value })}
          />
        </label>
        <label>
          Expires (empty: never)
          <input
            type="datetime-local"
            value={draft.expiresLocal}
            data-testid="token-field-expires"
            onChange={(e) => setDraft({ ...draft, expiresLocal: e.target.value })}
          />
        </label>
      </div>
      <fieldset className="scope">
        <legend>Scope: the scenarios it may change (none checked: the whole fleet)</legend>
        {SCENARIOS.map((s) => (
          <label key={s} className="inline">
            <input type="checkbox" checked={draft.scenarios.includes(s)} onChange={() => toggle(s)} data-testid={`token-scope-${s}`} />{' '}
            {humanize(s)}
          </label>
        ))}
      </fieldset>
      <div className="form-actions">
        <button type="submit" className="button primary" disabled={create.isPending} data-testid="token-create">
          Create token
        </button>
        {errors.length > 0 && (
          <p className="error" role="alert" data-testid="token-error">
            {errors.join('; ')}
          </p>
        )}
      </div>
    </form>
  );
}

/** Every token with its prefix, role, scope, expiry and last use; never a secret. */
export function TokenTable({ items, onSecret }: { items: ApiToken[]; onSecret: (s: ApiTokenSecret) => void }) {
  if (items.length === 0) return <p className="empty-state">No tokens.</p>;
  return (
    <table data-testid="token-table">
      <thead>
        <tr>
          <th>Name</th>
          <th>Prefix</th>
          <th>Role</th>
          <th>Scope</th>
          <th>Status</th>
          <th>Created</th>
          <th>Expires</th>
          <th>Last used</th>
          <th />
        </tr>
      </thead>
      <tbody>
        {items.map((t) => (
          <tr key={t.id} data-testid="token-row">
            <td className="wrap">{t.name}</td>
            <td>
              <code>{t.prefix ? `${t.prefix}…` : '—'}</code>
            </td>
            <td>{t.role}</td>
            <td className="wrap">{scopeLabel(t)}</td>
            <td>
              <StatusBadge status={t.status} />
            </td>
            <td className="nowrap">{formatDateTime(t.createdAt)}</td>
            <td className="nowrap">{t.expiresAt ? formatDateTime(t.expiresAt) : 'never'}</td>
            <td className="nowrap">{t.lastUsedAt ? formatDateTime(t.lastUsedAt) : 'never'}</td>
            <td>{canChange(t) && <TokenActions token={t} onSecret={onSecret} />}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function TokenActions({ token, onSecret }: { token: ApiToken; onSecret: (s: ApiTokenSecret) => void }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [error, setError] = useState<string | null>(null);
  const refresh = () => void queryClient.invalidateQueries({ queryKey: trpc.tokens.pathKey() });
  const rotate = useMutation(
    trpc.tokens.rotate.mutationOptions({
      onMutate: () => setError(null),
      onSuccess: (s) => {
        onSecret(s);
        refresh();
      },
      onError: (e) => setError(errorMessage(e)),
    }),
  );
  const revoke = useMutation(
    trpc.tokens.revoke.mutationOptions({ onMutate: () => setError(null), onSuccess: refresh, onError: (e) => setError(errorMessage(e)) }),
  );
  const busy = rotate.isPending || revoke.isPending;
  return (
    <div className="form-actions">
      <button
        type="button"
        className="button small"
        disabled={busy}
        data-testid="token-rotate"
        onClick={() => rotate.mutate({ id: token.id })}
      >
        Rotate
      </button>
      <button
        type="button"
        className="button small"
        disabled={busy}
        data-testid="token-revoke"
        onClick={() => {
          if (window.confirm(`Revoke "${token.name}"? Scripts and sessions using it stop working at once.`))
            revoke.mutate({ id: token.id });
        }}
      >
        Revoke
      </button>
      {error && (
        <span className="error" role="alert">
          {error}
        </span>
      )}
    </div>
  );
}
