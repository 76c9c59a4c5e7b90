'use client';

import { useMutation } from '@tanstack/react-query';
import { useState, type ReactNode } from 'react';
import type { PolicySettings } from '@edge-fleet/shared/policy';
import type { Precision } from '@edge-fleet/shared/schemas';
import { formatPercent, humanize } from '@/lib/format';
import {
  FIELD_LABELS,
  LOCATIONS,
  PERCENTILES,
  TIERS,
  describePolicyError,
  draftFromPolicy,
  inputFromDraft,
  movePrecision,
  precisionChoices,
  togglePrecision,
  type PolicyDraft,
} from '@/lib/policy-form';
import { useTRPC, type Policy } from '@/lib/trpc';

type Field = keyof PolicySettings;
interface FormError {
  text: string;
  fields: Field[];
}

/** The inline editor of one scenario's policy; the server decides what is valid and says why not. */
export function PolicyForm({ policy, onCancel, onSaved }: { policy: Policy; onCancel: () => void; onSaved: (saved: Policy) => void }) {
  const trpc = useTRPC();
  const [draft, setDraft] = useState<PolicyDraft>(() => draftFromPolicy(policy));
  const [error, setError] = useState<FormError | null>(null);
  const update = useMutation(
    trpc.policies.update.mutationOptions({
      onSuccess: onSaved,
      onError: (e) => setError(describePolicyError(e.message)),
    }),
  );
  const pending = update.isPending;
  const set = <K extends keyof PolicyDraft>(key: K, value: PolicyDraft[K]) => setDraft((d) => ({ ...d, [key]: value }));
  const invalid = (f: Field) => error?.fields.includes(f) ?? false;

  const save = () => {
    const r = inputFromDraft(policy.scenario, draft);
    if (!r.ok) {
      setError({ text: r.field ? `${FIELD_LABELS[r.field]}: ${r.message}` : r.message, fields: r.field ? [r.field] : [] });
      return;
    }
    setError(null);
    update.mutate(r.input);
  };

  const errorRate = Number(draft.errorRateMax);
  return (
    <form
      className="policy-form"
      noValidate
      data-testid={`policy-form-${policy.scenario}`}
      aria-label={`Edit the ${humanize(policy.scenario)} policy`}
      onSubmit={(e) => {
        e.preventDefault();
        save();
      }}
    >
      <div className="form-grid">
        <Labelled label="Tier" invalid={invalid('tier')}>
          <select
            data-testid="policy-field-tier"
            value={draft.tier}
            onChange={(e) => set('tier', e.target.value)}
            aria-invalid={invalid('tier')}
          >
            {TIERS.map((t) => (
              <option key={t} value={t}>
                {t} risk
              </option>
            ))}
          </select>
        </Labelled>
        <Labelled label="Latency target" invalid={invalid('latencyTargetMs') || invalid('latencyPercentile')}>
          <span className="inline-inputs">
            <select
              aria-label="Percentile"
              data-testid="policy-field-latencyPercentile"
              value={draft.latencyPercentile}
              onChange={(e) => set('latencyPercentile', e.target.value)}
            >
              {PERCENTILES.map((p) => (
                <option key={p} value={p}>
                  {p}
                </option>
              ))}
            </select>
            <span>&lt;</span>
            <input
              type="number"
              step="any"
              min={0}
              inputMode="decimal"
              aria-label="Latency target in milliseconds"
              data-testid="policy-field-latencyTargetMs"
              value={draft.latencyTargetMs}
              aria-invalid={invalid('latencyTargetMs')}
              onChange={(e) => set('latencyTargetMs', e.target.value)}
            />
            <span>ms</span>
          </span>
        </Labelled>
        <Labelled label="Location" invalid={invalid('location')}>
          <select data-testid="policy-field-location" value={draft.location} onChange={(e) => set('location', e.target.value)}>
            {LOCATIONS.map((l) => (
              <option key={l} value={l}>
                {l}
              </option>
            ))}
          </select>
        </Labelled>
        <Labelled label="Memory placement" invalid={invalid('memoryPlacement')}>
          <input
            type="text"
            maxLength={64}
            data-testid="policy-field-memoryPlacement"
            value={draft.memoryPlacement}
            aria-invalid={invalid('memoryPlacement')}
            onChange={(e) => set('memoryPlacement', e.target.value)}
          />
        </Labelled>
        <Labelled label="Max error rate (0–1)" invalid={invalid('errorRateMax')}>
          <span className="inline-inputs">
            <input
              type="number"
              step="any"
              inputMode="decimal"
              data-testid="policy-field-errorRateMax"
              value={draft.errorRateMax}
              aria-invalid={invalid('errorRateMax')}
              onChange={(e) => set('errorRateMax', e.target.value)}
            />
            <span className="muted">
              {draft.errorRateMax.trim() !== '' && Number.isFinite(errorRate) ? `= ${formatPercent(errorRate)}` : ''}
            </span>
          </span>
        </Labelled>
        <Labelled label="Power budget (W, empty = hardware budget)" invalid={invalid('powerBudgetW')}>
          <input
            type="number"
            step="any"
            inputMode="decimal"
            placeholder="none"
            data-testid="policy-field-powerBudgetW"
            value={draft.powerBudgetW}
            aria-invalid={invalid('powerBudgetW')}
            onChange={(e) => set('powerBudgetW', e.target.value)}
          />
        </Labelled>
        <Labelled label="Accuracy floor (0–1, agreement with FP32)" invalid={invalid('accuracyFloor')}>
          <input
            type="number"
            step="any"
            inputMode="decimal"
            data-testid="policy-field-accuracyFloor"
            value={draft.accuracyFloor}
            aria-invalid={invalid('accuracyFloor')}
            onChange={(e) => set('accuracyFloor', e.target.value)}
          />
        </Labelled>
        <Labelled label="Result cache (answers kept, 0 = off; for ms)" invalid={invalid('resultCache')}>
          <span className="inline-inputs">
            <input
              type="number"
              step="1"
              min="0"
              inputMode="numeric"
              aria-label="Result cache entries"
              data-testid="policy-field-cacheEntries"
              value={draft.cacheEntries}
              aria-invalid={invalid('resultCache')}
              onChange={(e) => set('cacheEntries', e.target.value)}
            />
            <input
              type="number"
              step="1"
              min="1000"
              inputMode="numeric"
              aria-label="Result cache TTL in milliseconds"
              data-testid="policy-field-cacheTtlMs"
              value={draft.cacheTtlMs}
              aria-invalid={invalid('resultCache')}
              onChange={(e) => set('cacheTtlMs', e.target.value)}
            />
            <span>ms</span>
          </span>
        </Labelled>
      </div>
      <PrecisionPicker
        order={draft.precisionOrder}
        invalid={invalid('precisionOrder')}
        onChange={(order) => set('precisionOrder', order)}
      />
      <div className="form-actions">
        <button type="submit" className="button primary" disabled={pending} data-testid="policy-save">
          {pending ? 'Saving…' : 'Save'}
        </button>
        <button type="button" className="button" onClick={onCancel}>
          Cancel
        </button>
        {error && (
          <p className="error" role="alert" data-testid="policy-error">
            {error.text}
          </p>
        )}
      </div>
    </form>
  );
}

/** A form field with its label, marked when the server named it in a refusal. */
export function Labelled({ label, invalid, children }: { label: string; invalid: boolean; children: ReactNode }) {
  return (
    <label className={invalid ? 'field invalid' : 'field'}>
      <span className="field-label">{label}</span>
      {children}
    </label>
  );
}

/** Ticked precisions in preference order with up/down buttons; unticked ones below, unranked. */
function PrecisionPicker({ order, invalid, onChange }: { order: Precision[]; invalid: boolean; onChange: (order: Precision[]) => void }) {
  return (
    <fieldset className={invalid ? 'precision-order invalid' : 'precision-order'} data-testid="policy-field-precisionOrder">
      <legend>Precision order (most preferred first)</legend>
      <ol>
        {precisionChoices(order).map(({ precision, rank }) => (
          <li key={precision} className={rank === null ? 'unchosen' : undefined}>
            <span className="rank">{rank ?? ''}</span>
            <label>
              <input
                type="checkbox"
                checked={rank !== null}
                data-testid={`policy-precision-${precision}`}
                onChange={() => onChange(togglePrecision(order, precision))}
              />{' '}
              {precision}
            </label>
            <button
              type="button"
              className="button small"
              aria-label={`Prefer ${precision} more`}
              data-testid={`policy-precision-up-${precision}`}
              disabled={rank === null || rank === 1}
              onClick={() => onChange(movePrecision(order, precision, -1))}
            >
              ↑
            </button>
            <button
              type="button"
              className="button small"
              aria-label={`Prefer ${precision} less`}
              data-testid={`policy-precision-down-${precision}`}
              disabled={rank === null || rank === order.length}
              onClick={() => onChange(movePrecision(order, precision, 1))}
            >
              ↓
            </button>
          </li>
        ))}
      </ol>
    </fieldset>
  );
}
