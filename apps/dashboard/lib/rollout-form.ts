import { z } from 'zod';
import { FailurePolicySchema, type CreateRolloutInput, type FailurePolicy } from '@edge-fleet/shared/rollout';
import { ScenarioSchema } from '@edge-fleet/shared/schemas';
import { errorIssues } from './error-message';

export const SCENARIOS = ScenarioSchema.options;
export const FAILURE_POLICIES = FailurePolicySchema.options;

export const FAILURE_POLICY_LABELS: Record<FailurePolicy, string> = {
  rollback: 'roll the failed wave back to the previous model',
  pause: 'pause the rollout for an operator',
};

/** One wave as typed: numbers stay text while edited, so "" or "1." are not rewritten under the cursor. */
export interface WaveDraft {
  mode: 'percent' | 'count';
  amount: string;
  soakSeconds: string;
  requireApproval: boolean;
}

export interface RolloutDraft {
  name: string;
  modelVersionId: string;
  /** "" for no scenario filter. */
  scenario: string;
  /** Device ids, one per line. */
  deviceIds: string;
  /** key=value, one per line. */
  labels: string;
  waves: WaveDraft[];
  failurePolicy: FailurePolicy;
  notifyRatePerSecond: string;
}

/** The parts of the form a refusal can point at. */
export type RolloutField =
  'name' | 'modelVersionId' | 'scenario' | 'deviceIds' | 'labels' | 'target' | 'waves' | 'gates' | 'failurePolicy' | 'notifyRatePerSecond';

export const FIELD_LABELS: Record<RolloutField, string> = {
  name: 'Name',
  modelVersionId: 'Model version',
  scenario: 'Target scenario',
  deviceIds: 'Device ids',
  labels: 'Labels',
  target: 'Target',
  waves: 'Waves',
  gates: 'Gates',
  failurePolicy: 'On a failed wave',
  notifyRatePerSecond: 'Notify rate',
};

/** A small canary, then a larger wave, then the rest after an operator's approval. */
export function newRolloutDraft(): RolloutDraft {
  return {
    name: '',
    modelVersionId: '',
    scenario: '',
    deviceIds: '',
    labels: '',
    waves: [
      { mode: 'percent', amount: '10', soakSeconds: '60', requireApproval: false },
      { mode: 'percent', amount: '40', soakSeconds: '120', requireApproval: false },
      { mode: 'percent', amount: '50', soakSeconds: '120', requireApproval: true },
    ],
    failurePolicy: 'rollback',
    notifyRatePerSecond: '100',
  };
}

// ---------------------------------------------------------------- text inputs

export type LinesResult<T> = { ok: true; value: T } | { ok: false; errors: string[] };

const MAX_REPORTED_ERRORS = 5;
const DeviceIdSchema = z.uuid();
const MAX_LABEL_KEY = 64;
const MAX_LABEL_VALUE = 256;

/** A line quoted for an error message, cut short if long. */
function quote(line: string): string {
  return JSON.stringify(line.length > 48 ? `${line.slice(0, 45)}…` : line);
}

function failed<T>(errors: string[]): LinesResult<T> {
  if (errors.length <= MAX_REPORTED_ERRORS) return { ok: false, errors };
  return { ok: false, errors: [...errors.slice(0, MAX_REPORTED_ERRORS), `… and ${errors.length - MAX_REPORTED_ERRORS} more bad lines`] };
}

/** Non-blank lines with their 1-based line numbers, trimmed. */
function lines(text: string): { n: number; line: string }[] {
  return text
    .split(/\r?\n/)
    .map((line, i) => ({ n: i + 1, line: line.trim() }))
    .filter((l) => l.line !== '');
}

/** Device ids, one per line; blank lines are ignored and a repeated id is sent once. Every bad line is named. */
export function parseDeviceIds(text: string): LinesResult<string[]> {
  const ids: string[] = [];
  const errors: string[] = [];
  for (const { n, line } of lines(text)) {
    if (!DeviceIdSchema.safeParse(line).success) errors.push(`line ${n}: ${quote(line)} is not a device id (a UUID such as 0b6f…-…)`);
    else if (!ids.includes(line.toLowerCase())) ids.push(line.toLowerCase());
  }
  return errors.length ? failed(errors) : { ok: true, value: ids };
}

/** Labels as key=value lines (split at the first "="); every bad or repeated key is named with its line. */
export function parseLabels(text: string): LinesResult<Record<string, string>> {
  const labels = new Map<string, { value: string; n: number }>();
  const errors: string[] = [];
  for (const { n, line } of lines(text)) {
    const eq = line.indexOf('=');
    if (eq < 0) {
      errors.push(`line ${n}: ${quote(line)} is not key=value`);
      continue;
    }
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    if (key === '') errors.push(`line ${n}: ${quote(line)} has no key before "="`);
    else if (key.length > MAX_LABEL_KEY) errors.push(`line ${n}: the key is longer than ${MAX_LABEL_KEY} characters`);
    else if (value.length > MAX_LABEL_VALUE)
      errors.push(`line ${n}: the value of ${quote(key)} is longer than ${MAX_LABEL_VALUE} characters`);
    else {
      const earlier = labels.get(key);
      if (earlier) errors.push(`line ${n}: the label ${quote(key)} is already given on line ${earlier.n}`);
      else labels.set(key, { value, n });
    }
  }
  if (errors.length) return failed(errors);
  // fromEntries defines own properties, so a key such as "__proto__" stays a label
  return { ok: true, value: Object.fromEntries([...labels].map(([k, v]) => [k, v.value])) };
}

// ---------------------------------------------------------------- waves

export function addWave(waves: readonly WaveDraft[]): WaveDraft[] {
  const last = waves.at(-1);
  return [...waves, { mode: last?.mode ?? 'percent', amount: '', soakSeconds: last?.soakSeconds ?? '60', requireApproval: false }];
}

/** Removes a wave; the new first wave (the canary) starts at once, so it loses any approval step. */
export function removeWave(waves: readonly WaveDraft[], index: number): WaveDraft[] {
  return waves.filter((_, i) => i !== index).map((w, i) => (i === 0 && w.requireApproval ? { ...w, requireApproval: false } : w));
}

export function updateWave(waves: readonly WaveDraft[], index: number, patch: Partial<WaveDraft>): WaveDraft[] {
  return waves.map((w, i) =>
    i === index ? { ...w, ...patch, requireApproval: i === 0 ? false : (patch.requireApproval ?? w.requireApproval) } : w,
  );
}

/** A hint while the waves are typed: what the percentages add up to, when every wave is a percentage. */
export function wavePercentHint(waves: readonly WaveDraft[]): string | null {
  if (waves.length === 0 || waves.some((w) => w.mode !== 'percent')) return null;
  const values = waves.map((w) => parseNumber(w.amount));
  if (values.some((v) => v === null)) return null;
  const sum = Math.round(values.reduce<number>((a, b) => a + (b ?? 0), 0) * 100) / 100;
  return sum === 100
    ? 'The waves add up to 100 % of the target.'
    : `The waves add up to ${sum} % of the target; they must add up to 100 %.`;
}

// ---------------------------------------------------------------- the request

function parseNumber(text: string): number | null {
  const t = text.trim();
  if (t === '') return null;
  const n = Number(t);
  return Number.isFinite(n) ? n : null;
}

export type RolloutDraftResult = { ok: true; input: CreateRolloutInput } | { ok: false; field: RolloutField; message: string };

/**
 * The `rollouts.create` input for a draft. Only reads the text inputs here (numbers, id and label lines);
 * the rules (waves adding up, a non-empty target, ranges) are the control plane's, so a refusal comes back
 * in its own words.
 */
export function inputFromRolloutDraft(d: RolloutDraft): RolloutDraftResult {
  if (d.modelVersionId === '') return { ok: false, field: 'modelVersionId', message: 'choose the model version to roll out' };
  const scenario = d.scenario === '' ? undefined : ScenarioSchema.safeParse(d.scenario);
  if (scenario && !scenario.success) return { ok: false, field: 'scenario', message: `unknown scenario ${JSON.stringify(d.scenario)}` };
  const ids = parseDeviceIds(d.deviceIds);
  if (!ids.ok) return { ok: false, field: 'deviceIds', message: ids.errors.join('; ') };
  const labels = parseLabels(d.labels);
  if (!labels.ok) return { ok: false, field: 'labels', message: labels.errors.join('; ') };

  const waves: CreateRolloutInput['waves'] = [];
  for (const [i, w] of d.waves.entries()) {
    const amount = parseNumber(w.amount);
    if (amount === null)
      return {
        ok: false,
        field: 'waves',
        message: `wave ${i + 1}: enter ${w.mode === 'percent' ? 'a percentage of the target' : 'a number of devices'}`,
      };
    const soakSeconds = parseNumber(w.soakSeconds);
    if (soakSeconds === null) return { ok: false, field: 'waves', message: `wave ${i + 1}: enter the soak time in seconds` };
    waves.push({ ...(w.mode === 'percent' ? { percent: amount } : { count: amount }), soakSeconds, requireApproval: w.requireApproval });
  }
  const notifyRatePerSecond = parseNumber(d.notifyRatePerSecond);
  if (notifyRatePerSecond === null)
    return { ok: false, field: 'notifyRatePerSecond', message: 'enter how many devices to notify per second' };

  const name = d.name.trim();
  return {
    ok: true,
    input: {
      ...(name ? { name } : {}),
      modelVersionId: d.modelVersionId,
      target: {
        ...(scenario ? { scenario: scenario.data } : {}),
        ...(Object.keys(labels.value).length ? { labels: labels.value } : {}),
        ...(ids.value.length ? { deviceIds: ids.value } : {}),
      },
      waves,
      failurePolicy: d.failurePolicy,
      notifyRatePerSecond,
    },
  };
}

/** The form field an issue path or a message's "path:" prefix points at. */
function fieldOf(path: string): RolloutField | null {
  const [top, second] = path.split('.');
  if (top === 'target') {
    if (second === 'scenario' || second === 'deviceIds' || second === 'labels') return second;
    return 'target';
  }
  const fields: readonly string[] = Object.keys(FIELD_LABELS);
  return top !== undefined && fields.includes(top) ? (top as RolloutField) : null;
}

/**
 * A refused create for the form: the server's words (a validation error as "path: problem; …", any other
 * message as it came), and which inputs to mark.
 */
export function describeRolloutError(message: string): { text: string; fields: RolloutField[] } {
  const issues = errorIssues(message);
  const fields = new Set<RolloutField>();
  const parts = issues.map((i) => {
    const prefix = /^([A-Za-z]+(?:\.[A-Za-z0-9]+)*):\s/.exec(i.message)?.[1];
    const f = fieldOf(i.field) ?? (i.field === '' && prefix ? fieldOf(prefix) : null);
    if (f) fields.add(f);
    return i.field ? `${i.field}: ${i.message}` : i.message;
  });
  return { text: parts.join('; '), fields: [...fields] };
}

/** "detector 2 — 4 ready variants", or a note that it cannot be rolled out yet. */
export function modelOptionLabel(m: { name: string; version: string; variants: readonly { status: string }[] }): string {
  const ready = m.variants.filter((v) => v.status === 'ready').length;
  return `${m.name} ${m.version} — ${ready === 0 ? 'no ready variant yet' : `${ready} ready ${ready === 1 ? 'variant' : 'variants'}`}`;
}
