'use client';

import { useMutation, useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { useState, type ReactNode } from 'react';
import { useRouter } from 'next/navigation';
import { humanize } from '@/lib/format';
import {
  FAILURE_POLICIES,
  FAILURE_POLICY_LABELS,
  FIELD_LABELS,
  SCENARIOS,
  addWave,
  describeRolloutError,
  inputFromRolloutDraft,
  modelOptionLabel,
  newRolloutDraft,
  parseDeviceIds,
  parseLabels,
  removeWave,
  updateWave,
  wavePercentHint,
  type RolloutDraft,
  type RolloutField,
  type WaveDraft,
} from '@/lib/rollout-form';
import { describeGateSpec } from '@/lib/rollouts';
import { DEFAULT_GATES } from '@edge-fleet/shared/rollout';
import { POLL_INTERVAL_MS } from '@/lib/live';
import { useTRPC, type ModelVersion } from '@/lib/trpc';
import { QueryStatus } from './query-status';

const MAX_WAVES = 20;

interface FormError {
  text: string;
  fields: RolloutField[];
}

/** Starts a rollout; the control plane decides whether the plan is valid and says why not, in its words. */
export function RolloutForm() {
  // The model versions, loaded once (a new upload shows after a reload); asked again only until they come.
  const trpc = useTRPC();
  const models = useQuery(
    trpc.models.list.queryOptions(undefined, {
      refetchInterval: (q) => (q.state.data ? false : POLL_INTERVAL_MS),
      refetchOnWindowFocus: false,
      staleTime: Infinity,
    }),
  );
  return (
    <>
      <h1>New rollout</h1>
      <p className="muted intro">
        Every target filter given must match: a scenario, labels, explicit devices. The first wave is the canary and starts at once; each
        wave soaks, then the gates judge it before the next one starts. Waves are a number of devices or a percentage of the target; the
        last wave takes every device the earlier ones did not.
      </p>
      {models.data !== undefined ? <FormBody models={models.data.items} /> : <QueryStatus error={models.error} what="model versions" />}
    </>
  );
}

function FormBody({ models }: { models: ModelVersion[] }) {
  const router = useRouter();
  const [draft, setDraft] = useState<RolloutDraft>(newRolloutDraft);
  const trpc = useTRPC();
  const [error, setError] = useState<FormError | null>(null);
  const create = useMutation(
    trpc.rollouts.create.mutationOptions({
      onSuccess: (created) => router.push(`/rollouts/${created.id}`),
      onError: (e) => setError(describeRolloutError(e.message)),
    }),
  );
  // still "starting" while the browser moves to the new rollout's page
  const pending = create.isPending || create.isSuccess;
  const set = <K extends keyof RolloutDraft>(key: K, value: RolloutDraft[K]) => setDraft((d) => ({ ...d, [key]: value }));
  const setWaves = (f: (waves: WaveDraft[]) => WaveDraft[]) => setDraft((d) => ({ ...d, waves: f(d.waves) }));
  const invalid = (...f: RolloutField[]) => f.some((x) => error?.fields.includes(x) ?? false);

  // Line errors while typing, so a bad line is named before anything is sent.
  const idsCheck = parseDeviceIds(draft.deviceIds);
  const labelsCheck = parseLabels(draft.labels);
  const hint = wavePercentHint(draft.waves);

  const submit = () => {
    const r = inputFromRolloutDraft(draft);
    if (!r.ok) {
      setError({ text: `${FIELD_LABELS[r.field]}: ${r.message}`, fields: [r.field] });
      return;
    }
    setError(null);
    create.mutate(r.input);
  };

  return (
    <form
      className="rollout-form"
      noValidate
      data-testid="rollout-form"
      aria-label="New rollout"
      onSubmit={(e) => {
        e.preventDefault();
        submit();
      }}
    >
      <div className="form-grid">
        <Labelled label="Model version" invalid={invalid('modelVersionId')}>
          <select
            data-testid="rollout-field-model"
            value={draft.modelVersionId}
            aria-invalid={invalid('modelVersionId')}
            onChange={(e) => set('modelVersionId', e.target.value)}
          >
            <option value="">Choose a model version…</option>
            {models.map((m) => (
              <option key={m.id} value={m.id}>
                {modelOptionLabel(m)}
              </option>
            ))}
          </select>
        </Labelled>
        <Labelled label="Target scenario" invalid={invalid('scenario', 'target')}>
          <select
            data-testid="rollout-field-scenario"
            value={draft.scenario}
            aria-invalid={invalid('scenario', 'target')}
            onChange={(e) => set('scenario', e.target.value)}
          >
            <option value="">No scenario filter</option>
            {SCENARIOS.map((s) => (
              <option key={s} value={s}>
                {humanize(s)}
              </option>
            ))}
          </select>
        </Labelled>
        <Labelled label="Name (optional)" invalid={invalid('name')}>
          <input
            type="text"
            maxLength={120}
            placeholder="model name and version"
            data-testid="rollout-field-name"
            value={draft.name}
            onChange={(e) => set('name', e.target.value)}
          />
        </Labelled>
      </div>
      {models.length === 0 && (
        <p className="muted">
          No model version is registered yet; see <Link href="/models">Models</Link>.
        </p>
      )}
      <div className="form-grid wide">
        <Labelled
          label="Device ids (optional, one per line)"
          invalid={invalid('deviceIds', 'target') || !idsCheck.ok}
          note={
            <LineFeedback
              check={idsCheck}
              ok={(ids) => (ids.length ? `${ids.length} ${ids.length === 1 ? 'device' : 'devices'}` : null)}
              testId="rollout-deviceIds-check"
            />
          }
        >
          <textarea
            rows={5}
            spellCheck={false}
            placeholder="3f2b9c1e-…"
            data-testid="rollout-field-deviceIds"
            value={draft.deviceIds}
            aria-invalid={invalid('deviceIds', 'target') || !idsCheck.ok}
            onChange={(e) => set('deviceIds', e.target.value)}
          />
        </Labelled>
        <Labelled
          label="Labels (optional, key=value per line)"
          invalid={invalid('labels', 'target') || !labelsCheck.ok}
          note={
            <LineFeedback
              check={labelsCheck}
              ok={(l) => (Object.keys(l).length ? `${Object.keys(l).length} ${Object.keys(l).length === 1 ? 'label' : 'labels'}` : null)}
              testId="rollout-labels-check"
            />
          }
        >
          <textarea
            rows={5}
            spellCheck={false}
            placeholder={'site=north\nrack=3'}
            data-testid="rollout-field-labels"
            value={draft.labels}
            aria-invalid={invalid('labels', 'target') || !labelsCheck.ok}
            onChange={(e) => set('labels', e.target.value)}
          />
        </Labelled>
      </div>

      <fieldset className={invalid('waves') ? 'waves invalid' : 'waves'} data-testid="rollout-field-waves">
        <legend>Waves</legend>
        <table className="wave-editor">
          <thead>
            <tr>
              <th>Wave</th>
              <th>Size</th>
              <th>Soak (seconds)</th>
              <th>Approval</th>
              <th aria-label="actions" />
            </tr>
          </thead>
          <tbody>
            {draft.waves.map((w, i) => (
              <WaveRow
                key={i}
                w={w}
                i={i}
                count={draft.waves.length}
                onChange={(patch) => setWaves((ws) => updateWave(ws, i, patch))}
                onRemove={() => setWaves((ws) => removeWave(ws, i))}
              />
            ))}
          </tbody>
        </table>
        <div className="form-actions">
          <button
            type="button"
            className="button"
            disabled={draft.waves.length >= MAX_WAVES}
            data-testid="rollout-add-wave"
            onClick={() => setWaves(addWave)}
          >
            Add a wave
          </button>
          {hint && (
            <span className="muted" data-testid="rollout-wave-hint">
              {hint}
            </span>
          )}
        </div>
      </fieldset>

      <div className="form-grid">
        <Labelled label="On a failed wave" invalid={invalid('failurePolicy')}>
          <select
            data-testid="rollout-field-failurePolicy"
            value={draft.failurePolicy}
            onChange={(e) => set('failurePolicy', FAILURE_POLICIES.find((p) => p === e.target.value) ?? 'rollback')}
          >
            {FAILURE_POLICIES.map((p) => (
              <option key={p} value={p}>
                {p}: {FAILURE_POLICY_LABELS[p]}
              </option>
            ))}
          </select>
        </Labelled>
        <Labelled label="Notify rate (devices per second)" invalid={invalid('notifyRatePerSecond')}>
          <input
            type="number"
            step="any"
            min={0.1}
            inputMode="decimal"
            data-testid="rollout-field-notifyRate"
            value={draft.notifyRatePerSecond}
            aria-invalid={invalid('notifyRatePerSecond')}
            onChange={(e) => set('notifyRatePerSecond', e.target.value)}
          />
        </Labelled>
      </div>
      <details className="gate-defaults">
        <summary>Gates: the defaults</summary>
        <ul className="gate-specs">
          {DEFAULT_GATES.map((g) => (
            <li key={g.metric}>{describeGateSpec(g)}</li>
          ))}
        </ul>
      </details>

      <div className="form-actions">
        <button type="submit" className="button primary" disabled={pending} data-testid="rollout-submit">
          {pending ? 'Starting…' : 'Start rollout'}
        </button>
        <Link href="/rollouts" className="button">
          Cancel
        </Link>
        {error && (
          <p className="error" role="alert" data-testid="rollout-error">
            {error.text}
          </p>
        )}
      </div>
    </form>
  );
}

function WaveRow({
  w,
  i,
  count,
  onChange,
  onRemove,
}: {
  w: WaveDraft;
  i: number;
  count: number;
  onChange: (patch: Partial<WaveDraft>) => void;
  onRemove: () => void;
}) {
  return (
    <tr data-testid={`rollout-wave-${i + 1}`}>
      <th scope="row">
        {i + 1}
        {i === 0 && <span className="muted"> canary</span>}
      </th>
      <td>
        <span className="inline-inputs">
          <input
            type="number"
            step="any"
            min={0}
            inputMode="decimal"
            aria-label={`Wave ${i + 1} size`}
            data-testid={`rollout-wave-${i + 1}-amount`}
            value={w.amount}
            onChange={(e) => onChange({ amount: e.target.value })}
          />
          <select
            aria-label={`Wave ${i + 1} size unit`}
            data-testid={`rollout-wave-${i + 1}-mode`}
            value={w.mode}
            onChange={(e) => onChange({ mode: e.target.value === 'count' ? 'count' : 'percent' })}
          >
            <option value="percent">% of the target</option>
            <option value="count">devices</option>
          </select>
        </span>
      </td>
      <td>
        <input
          type="number"
          step={1}
          min={1}
          inputMode="numeric"
          aria-label={`Wave ${i + 1} soak seconds`}
          data-testid={`rollout-wave-${i + 1}-soak`}
          value={w.soakSeconds}
          onChange={(e) => onChange({ soakSeconds: e.target.value })}
        />
      </td>
      <td>
        <label title={i === 0 ? 'the canary starts at once' : undefined}>
          <input
            type="checkbox"
            checked={w.requireApproval}
            disabled={i === 0}
            data-testid={`rollout-wave-${i + 1}-approval`}
            onChange={(e) => onChange({ requireApproval: e.target.checked })}
          />{' '}
          {i === 0 ? <span className="muted">starts at once</span> : 'wait for approval'}
        </label>
      </td>
      <td>
        <button
          type="button"
          className="button small"
          disabled={count <= 1}
          aria-label={`Remove wave ${i + 1}`}
          data-testid={`rollout-wave-${i + 1}-remove`}
          onClick={onRemove}
        >
          Remove
        </button>
      </td>
    </tr>
  );
}

function LineFeedback<T>({
  check,
  ok,
  testId,
}: {
  check: { ok: true; value: T } | { ok: false; errors: string[] };
  ok: (value: T) => string | null;
  testId: string;
}) {
  if (check.ok) {
    const text = ok(check.value);
    return text ? <span className="field-note muted">{text}</span> : null;
  }
  return (
    <ul className="field-note error" data-testid={testId}>
      {check.errors.map((e) => (
        <li key={e}>{e}</li>
      ))}
    </ul>
  );
}

/** A labelled input; `note` (line errors, a count) goes under it, outside the label. */
function Labelled({ label, invalid, children, note }: { label: string; invalid: boolean; children: ReactNode; note?: ReactNode }) {
  const className = invalid ? 'field invalid' : 'field';
  const labelled = (
    <label className={note === undefined ? className : 'field'}>
      <span className="field-label">{label}</span>
      {children}
    </label>
  );
  if (note === undefined) return labelled;
  return (
    <div className={className}>
      {labelled}
      {note}
    </div>
  );
}
