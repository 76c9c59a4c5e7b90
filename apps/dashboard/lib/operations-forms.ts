import {
  ALERT_LABELS,
  ALERT_METRICS,
  ALERT_RULE_FIELDS,
  AlertSeveritySchema,
  BOOLEAN_METRICS,
  REMEDIATION_SETTINGS_FIELDS,
  RemediationModeSchema,
} from '@edge-fleet/shared/api';
import { ScenarioSchema } from '@edge-fleet/shared/schemas';
import type { AlertRule, RemediationSettings } from './api-types';

export const METRICS = ALERT_METRICS;
export const SEVERITIES = AlertSeveritySchema.options;
export const SCENARIOS = ScenarioSchema.options;
export const MODES = RemediationModeSchema.options;
export const LABELS = ALERT_LABELS;
export type AlertLabel = (typeof ALERT_LABELS)[number];

/** The alert-rule form's state: numbers stay text while typed; empty threshold or percentile: the policy's. */
export interface RuleDraft {
  name: string;
  metric: string;
  /** Empty: every scenario. */
  scenario: string;
  threshold: string;
  percentile: string;
  forSeconds: string;
  lookbackSeconds: string;
  hysteresis: string;
  severity: string;
  enabled: boolean;
}

export const RULE_FIELDS = ALERT_RULE_FIELDS;
export type RuleField = (typeof RULE_FIELDS)[number];

export const NEW_RULE: RuleDraft = {
  name: '',
  metric: 'latency_ms',
  scenario: '',
  threshold: '',
  percentile: '',
  forSeconds: '60',
  lookbackSeconds: '60',
  hysteresis: '0.1',
  severity: 'warning',
  enabled: true,
};

export function draftFromRule(r: AlertRule): RuleDraft {
  return {
    name: r.name,
    metric: r.metric,
    scenario: r.scenario ?? '',
    threshold: r.threshold === null ? '' : String(r.threshold),
    percentile: r.percentile ?? '',
    forSeconds: String(r.forSeconds),
    lookbackSeconds: String(r.lookbackSeconds),
    hysteresis: String(r.hysteresis),
    severity: r.severity,
    enabled: r.enabled,
  };
}

/** A typed number, or what is wrong with it; the ranges are the server's to judge. */
function numberOf(text: string): number | null {
  const t = text.trim();
  if (t === '') return null;
  const n = Number(t);
  return Number.isFinite(n) ? n : null;
}

export type FormResult<T, F extends string> = { ok: true; input: T } | { ok: false; field: F; message: string };

/**
 * The body of `alerts.createRule` / `alerts.updateRule` for a draft. Only text becomes numbers here;
 * every rule about ranges and combinations is the server's (AlertRuleSettingsSchema), so a refused
 * value comes back with the server's own message naming the field.
 */
export function ruleInput(d: RuleDraft): FormResult<Record<RuleField, unknown>, RuleField> {
  const num = (f: 'forSeconds' | 'lookbackSeconds' | 'hysteresis') => numberOf(d[f]);
  for (const f of ['forSeconds', 'lookbackSeconds', 'hysteresis'] as const)
    if (num(f) === null) return { ok: false, field: f, message: 'enter a number' };
  const threshold = numberOf(d.threshold);
  if (d.threshold.trim() !== '' && threshold === null)
    return { ok: false, field: 'threshold', message: 'enter a number, or leave it empty' };
  return {
    ok: true,
    input: {
      name: d.name.trim(),
      metric: d.metric,
      scenario: d.scenario === '' ? null : d.scenario,
      threshold,
      percentile: d.percentile === '' ? null : d.percentile,
      forSeconds: num('forSeconds'),
      lookbackSeconds: num('lookbackSeconds'),
      hysteresis: num('hysteresis'),
      severity: d.severity,
      enabled: d.enabled,
    },
  };
}

/** A condition metric takes no threshold: the form hides the input. */
export const isCondition = (metric: string) => BOOLEAN_METRICS.some((m) => m === metric);

/**
 * The fields a refused input names. The server says `invalid alert rule: threshold: …; forSeconds: …`
 * (an AppError) or sends zod's issue list (a tRPC input error, already turned into `field: message`).
 */
export function fieldsNamed<F extends string>(message: string, fields: readonly F[]): F[] {
  return fields.filter((f) => new RegExp(`(^|[:;] |\\.)${f}: `).test(message));
}

/** A rule's threshold in words: its own, or the policy's where it takes the policy's. */
export function thresholdLabel(r: Pick<AlertRule, 'metric' | 'threshold'>): string {
  if (isCondition(r.metric)) return 'condition';
  return r.threshold === null ? "the policy's" : String(r.threshold);
}

/** The silence form's state: matchers as `label=value` pairs separated by commas. */
export interface SilenceDraft {
  matchers: string;
  durationHours: string;
  comment: string;
}

/** `alerts.createSilence` input for a draft; a matcher that is not `label=value` is refused here, naming it. */
export function silenceInput(
  d: SilenceDraft,
): FormResult<{ matchers: { name: AlertLabel; value: string }[]; durationSeconds: number; comment: string }, keyof SilenceDraft> {
  const parts = d.matchers
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  if (parts.length === 0) return { ok: false, field: 'matchers', message: 'give at least one label=value matcher' };
  const matchers: { name: AlertLabel; value: string }[] = [];
  for (const p of parts) {
    const eq = p.indexOf('=');
    if (eq <= 0 || eq === p.length - 1) return { ok: false, field: 'matchers', message: `"${p}" is not label=value` };
    const name = p.slice(0, eq).trim();
    const label = LABELS.find((l) => l === name);
    if (!label) return { ok: false, field: 'matchers', message: `unknown label "${name}"; use one of ${LABELS.join(', ')}` };
    matchers.push({ name: label, value: p.slice(eq + 1).trim() });
  }
  const hours = numberOf(d.durationHours);
  if (hours === null) return { ok: false, field: 'durationHours', message: 'enter a number of hours' };
  return { ok: true, input: { matchers, durationSeconds: Math.round(hours * 3_600), comment: d.comment.trim() } };
}

export type RemediationField = Exclude<keyof RemediationSettings, 'scenario' | 'updatedBy' | 'updatedAt'>;
export const REMEDIATION_FIELDS: readonly RemediationField[] = REMEDIATION_SETTINGS_FIELDS;
export type RemediationDraft = Record<RemediationField, string>;

export function draftFromSettings(s: RemediationSettings): RemediationDraft {
  return {
    mode: s.mode,
    maxDevicesPerHour: String(s.maxDevicesPerHour),
    maxPercentPerHour: s.maxPercentPerHour === null ? '' : String(s.maxPercentPerHour),
    holdOffSeconds: String(s.holdOffSeconds),
    checkWindowSeconds: String(s.checkWindowSeconds),
    rateFactor: String(s.rateFactor),
    dutyCycle: String(s.dutyCycle),
  };
}

/** `remediation.updateSettings`' settings for a draft; empty `maxPercentPerHour`: no share limit. */
export function remediationInput(d: RemediationDraft): FormResult<Record<RemediationField, unknown>, RemediationField> {
  const out: Record<string, unknown> = { mode: d.mode };
  for (const f of REMEDIATION_FIELDS) {
    if (f === 'mode') continue;
    const n = numberOf(d[f]);
    if (f === 'maxPercentPerHour' && d[f].trim() === '') out[f] = null;
    else if (n === null) return { ok: false, field: f, message: 'enter a number' };
    else out[f] = n;
  }
  return { ok: true, input: out };
}
