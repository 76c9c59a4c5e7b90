'use client';

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { humanize } from '@/lib/format';
import { POLL_INTERVAL_MS } from '@/lib/live';
import {
  METRICS,
  NEW_RULE,
  RULE_FIELDS,
  SCENARIOS,
  SEVERITIES,
  draftFromRule,
  fieldsNamed,
  isCondition,
  ruleInput,
  thresholdLabel,
  type RuleDraft,
  type RuleField,
} from '@/lib/operations-forms';
import { errorMessage, useTRPC, type AlertRule } from '@/lib/trpc';
import { Labelled } from './policy-form';
import { QueryStatus, RefreshError } from './query-status';

interface FormError {
  text: string;
  fields: RuleField[];
}

/** The alert rules, with a form to add one, edit one, and a switch to disable or enable it. */
export function AlertRules() {
  const trpc = useTRPC();
  const rules = useQuery(trpc.alerts.rules.queryOptions(undefined, { refetchInterval: POLL_INTERVAL_MS }));
  // null: no form; 'new': the create form; a rule id: editing that rule
  const [editing, setEditing] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  if (rules.data === undefined) return <QueryStatus error={rules.error} what="alert rules" />;
  const items = rules.data.items;
  const edited = items.find((r) => r.id === editing);
  const done = (message: string) => {
    setEditing(null);
    setNotice(message);
  };
  return (
    <section data-testid="alert-rules">
      <header className="page-header">
        <h2>Rules</h2>
        <button
          type="button"
          className="button"
          data-testid="rule-new"
          onClick={() => {
            setNotice(null);
            setEditing('new');
          }}
        >
          New rule
        </button>
      </header>
      <RefreshError error={rules.error} />
      {notice && (
        <p className="banner success" role="status" data-testid="rule-saved">
          {notice}
        </p>
      )}
      {editing !== null && (
        <RuleForm key={editing} rule={edited ?? null} onCancel={() => setEditing(null)} onSaved={(r) => done(`Saved rule ${r.name}.`)} />
      )}
      <table data-testid="rule-table">
        <thead>
          <tr>
            <th>Rule</th>
            <th>Scope</th>
            <th>Metric</th>
            <th className="num">Threshold</th>
            <th className="num">For</th>
            <th className="num">Lookback</th>
            <th>Severity</th>
            <th>State</th>
            <th aria-label="actions" />
          </tr>
        </thead>
        <tbody>
          {items.map((r) => (
            <tr key={r.id} data-testid="rule-row" data-rule={r.name}>
              <td className="wrap">
                {r.name} {r.origin === 'policy' && <span className="muted">(default)</span>}
              </td>
              <td>{r.scenario ? humanize(r.scenario) : 'every scenario'}</td>
              <td>{r.metric}</td>
              <td className="num">{thresholdLabel(r)}</td>
              <td className="num">{r.forSeconds} s</td>
              <td className="num">{r.lookbackSeconds} s</td>
              <td>{r.severity}</td>
              <td>{r.enabled ? 'enabled' : <span className="muted">disabled</span>}</td>
              <td className="nowrap">
                <button type="button" className="button small" data-testid={`rule-edit-${r.name}`} onClick={() => setEditing(r.id)}>
                  Edit
                </button>{' '}
                <ToggleRule rule={r} onDone={(m) => done(m)} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

/** Settings of a listed rule, as the update input wants them (a full replacement). */
function settingsOf(r: AlertRule): Record<RuleField, unknown> {
  return Object.fromEntries(RULE_FIELDS.map((f) => [f, r[f]])) as Record<RuleField, unknown>;
}

function ToggleRule({ rule, onDone }: { rule: AlertRule; onDone: (message: string) => void }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [error, setError] = useState<string | null>(null);
  const update = useMutation(
    trpc.alerts.updateRule.mutationOptions({
      onSuccess: (r) => {
        void queryClient.invalidateQueries({ queryKey: trpc.alerts.pathKey() });
        onDone(`Rule ${r.name} ${r.enabled ? 'enabled' : 'disabled'}.`);
      },
      onError: (e) => setError(errorMessage(e)),
    }),
  );
  return (
    <>
      <button
        type="button"
        className="button small"
        disabled={update.isPending}
        data-testid={`rule-toggle-${rule.name}`}
        onClick={() => update.mutate({ id: rule.id, rule: { ...settingsOf(rule), enabled: !rule.enabled } })}
      >
        {rule.enabled ? 'Disable' : 'Enable'}
      </button>
      {error && <span className="error">{error}</span>}
    </>
  );
}

/** Create (rule null) or edit a rule; the server judges the values and its refusal names the field. */
function RuleForm({ rule, onCancel, onSaved }: { rule: AlertRule | null; onCancel: () => void; onSaved: (r: AlertRule) => void }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [draft, setDraft] = useState<RuleDraft>(() => (rule ? draftFromRule(rule) : NEW_RULE));
  const [error, setError] = useState<FormError | null>(null);
  const handlers = {
    onSuccess: (r: AlertRule) => {
      void queryClient.invalidateQueries({ queryKey: trpc.alerts.pathKey() });
      onSaved(r);
    },
    onError: (e: unknown) => {
      const text = errorMessage(e);
      setError({ text, fields: fieldsNamed(text, RULE_FIELDS) });
    },
  };
  const create = useMutation(trpc.alerts.createRule.mutationOptions(handlers));
  const update = useMutation(trpc.alerts.updateRule.mutationOptions(handlers));
  const pending = create.isPending || update.isPending;
  const set = <K extends keyof RuleDraft>(k: K, v: RuleDraft[K]) => setDraft((d) => ({ ...d, [k]: v }));
  const invalid = (f: RuleField) => error?.fields.includes(f) ?? false;
  const save = () => {
    const r = ruleInput(draft);
    if (!r.ok) {
      setError({ text: `${r.field}: ${r.message}`, fields: [r.field] });
      return;
    }
    setError(null);
    if (rule) update.mutate({ id: rule.id, rule: r.input });
    else create.mutate(r.input);
  };
  const text = (f: 'name' | 'threshold' | 'forSeconds' | 'lookbackSeconds' | 'hysteresis', props: { placeholder?: string } = {}) => (
    <input
      type="text"
      inputMode={f === 'name' ? 'text' : 'decimal'}
      data-testid={`rule-field-${f}`}
      value={draft[f]}
      aria-invalid={invalid(f)}
      onChange={(e) => set(f, e.target.value)}
      {...props}
    />
  );
  return (
    <form
      className="panel"
      noValidate
      data-testid="rule-form"
      aria-label={rule ? `Edit rule ${rule.name}` : 'New alert rule'}
      onSubmit={(e) => {
        e.preventDefault();
        save();
      }}
    >
      <h3>{rule ? `Edit ${rule.name}` : 'New alert rule'}</h3>
      <div className="form-grid">
        <Labelled label="Name" invalid={invalid('name')}>
          {text('name')}
        </Labelled>
        <Labelled label="Metric" invalid={invalid('metric')}>
          <select data-testid="rule-field-metric" value={draft.metric} onChange={(e) => set('metric', e.target.value)}>
            {METRICS.map((m) => (
              <option key={m} value={m}>
                {m}
              </option>
            ))}
          </select>
        </Labelled>
        <Labelled label="Scenario" invalid={invalid('scenario')}>
          <select data-testid="rule-field-scenario" value={draft.scenario} onChange={(e) => set('scenario', e.target.value)}>
            <option value="">every scenario</option>
            {SCENARIOS.map((s) => (
              <option key={s} value={s}>
                {humanize(s)}
              </option>
            ))}
          </select>
        </Labelled>
        {!isCondition(draft.metric) && (
          <Labelled label="Threshold (empty: the policy's)" invalid={invalid('threshold')}>
            {text('threshold', { placeholder: "policy's" })}
          </Labelled>
        )}
        {draft.metric === 'latency_ms' && (
          <Labelled label="Percentile" invalid={invalid('percentile')}>
            <select data-testid="rule-field-percentile" value={draft.percentile} onChange={(e) => set('percentile', e.target.value)}>
              <option value="">the policy&apos;s</option>
              {['p50', 'p95', 'p99'].map((p) => (
                <option key={p} value={p}>
                  {p}
                </option>
              ))}
            </select>
          </Labelled>
        )}
        <Labelled label="For (s)" invalid={invalid('forSeconds')}>
          {text('forSeconds')}
        </Labelled>
        <Labelled label="Lookback (s)" invalid={invalid('lookbackSeconds')}>
          {text('lookbackSeconds')}
        </Labelled>
        <Labelled label="Hysteresis (0–0.9)" invalid={invalid('hysteresis')}>
          {text('hysteresis')}
        </Labelled>
        <Labelled label="Severity" invalid={invalid('severity')}>
          <select data-testid="rule-field-severity" value={draft.severity} onChange={(e) => set('severity', e.target.value)}>
            {SEVERITIES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </Labelled>
        <label className="field">
          <span className="field-label">Enabled</span>
          <input
            type="checkbox"
            data-testid="rule-field-enabled"
            checked={draft.enabled}
            onChange={(e) => set('enabled', e.target.checked)}
          />
        </label>
      </div>
      <div className="form-actions">
        <button type="submit" className="button primary" disabled={pending} data-testid="rule-save">
          {pending ? 'Saving…' : 'Save'}
        </button>
        <button type="button" className="button" onClick={onCancel}>
          Cancel
        </button>
        {error && (
          <p className="error" role="alert" data-testid="rule-error">
            {error.text}
          </p>
        )}
      </div>
    </form>
  );
}
