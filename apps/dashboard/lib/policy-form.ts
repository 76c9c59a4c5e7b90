import { LatencyPercentileSchema, type PolicySettings } from '@edge-fleet/shared/policy';
import { LocationSchema, PrecisionSchema, ScenarioSchema, TierSchema, type Precision } from '@edge-fleet/shared/schemas';
import type { Policy, PolicyUpdateInput } from './api-types';
import { errorIssues } from './error-message';

export const TIERS = TierSchema.options;
export const LOCATIONS = LocationSchema.options;
export const PERCENTILES = LatencyPercentileSchema.options;
export const PRECISIONS = PrecisionSchema.options;

/** The fields of a listed policy that the edit form starts from. */
export type PolicyRow = Omit<Policy, 'model'>;

/** The edit form's state: number fields stay text while typed, so "0." or "" are not rewritten under the cursor. */
export interface PolicyDraft {
  tier: string;
  latencyTargetMs: string;
  latencyPercentile: string;
  location: string;
  precisionOrder: Precision[];
  memoryPlacement: string;
  errorRateMax: string;
  /** Empty: no policy budget, the device's own hardware budget applies. */
  powerBudgetW: string;
  accuracyFloor: string;
  /** The agents' result cache: answers kept ("0" = off) and for how many milliseconds. */
  cacheEntries: string;
  cacheTtlMs: string;
}

export const FIELD_LABELS: Record<keyof PolicySettings, string> = {
  tier: 'Tier',
  latencyTargetMs: 'Latency target',
  latencyPercentile: 'Percentile',
  location: 'Location',
  precisionOrder: 'Precision order',
  memoryPlacement: 'Memory placement',
  errorRateMax: 'Max error rate',
  powerBudgetW: 'Power budget',
  accuracyFloor: 'Accuracy floor',
  resultCache: 'Result cache',
};

export function draftFromPolicy(p: PolicyRow): PolicyDraft {
  return {
    tier: p.tier,
    latencyTargetMs: String(p.latencyTargetMs),
    latencyPercentile: p.latencyPercentile,
    location: p.location,
    // A precision the dashboard does not know would be unsendable; leave it out rather than fail the form.
    precisionOrder: p.precisionOrder.flatMap((x) => PRECISIONS.filter((known) => known === x)),
    memoryPlacement: p.memoryPlacement,
    errorRateMax: String(p.errorRateMax),
    powerBudgetW: p.powerBudgetW === null ? '' : String(p.powerBudgetW),
    accuracyFloor: String(p.accuracyFloor),
    cacheEntries: String(p.resultCache.entries),
    cacheTtlMs: String(p.resultCache.ttlMs),
  };
}

function parseNumber(text: string): number | null {
  const t = text.trim();
  if (t === '') return null;
  const n = Number(t);
  return Number.isFinite(n) ? n : null;
}

export type DraftResult = { ok: true; input: PolicyUpdateInput } | { ok: false; field: keyof PolicySettings | null; message: string };

/**
 * The `policies.update` input for a draft. Only turns text into numbers here; ranges and rules are the
 * server's (PolicySettingsSchema), so a refused value comes back with the server's own message.
 */
export function inputFromDraft(scenario: string, d: PolicyDraft): DraftResult {
  const scenarioName = ScenarioSchema.safeParse(scenario);
  if (!scenarioName.success) return { ok: false, field: null, message: `unknown scenario ${scenario}` };
  const tier = TierSchema.safeParse(d.tier);
  if (!tier.success) return { ok: false, field: 'tier', message: 'choose a tier' };
  const percentile = LatencyPercentileSchema.safeParse(d.latencyPercentile);
  if (!percentile.success) return { ok: false, field: 'latencyPercentile', message: 'choose a percentile' };
  const location = LocationSchema.safeParse(d.location);
  if (!location.success) return { ok: false, field: 'location', message: 'choose a location' };
  const latencyTargetMs = parseNumber(d.latencyTargetMs);
  if (latencyTargetMs === null) return { ok: false, field: 'latencyTargetMs', message: 'enter a number of milliseconds' };
  const errorRateMax = parseNumber(d.errorRateMax);
  if (errorRateMax === null) return { ok: false, field: 'errorRateMax', message: 'enter a rate between 0 and 1' };
  const accuracyFloor = parseNumber(d.accuracyFloor);
  if (accuracyFloor === null) return { ok: false, field: 'accuracyFloor', message: 'enter a value between 0 and 1' };
  const noBudget = d.powerBudgetW.trim() === '';
  const powerBudgetW = noBudget ? null : parseNumber(d.powerBudgetW);
  if (!noBudget && powerBudgetW === null)
    return { ok: false, field: 'powerBudgetW', message: 'enter a number of watts, or leave it empty' };
  const entries = parseNumber(d.cacheEntries);
  const ttlMs = parseNumber(d.cacheTtlMs);
  if (entries === null || ttlMs === null)
    return { ok: false, field: 'resultCache', message: 'enter the answers to keep (0 = off) and how long, in ms' };
  return {
    ok: true,
    input: {
      scenario: scenarioName.data,
      tier: tier.data,
      latencyTargetMs,
      latencyPercentile: percentile.data,
      location: location.data,
      precisionOrder: d.precisionOrder,
      memoryPlacement: d.memoryPlacement.trim(),
      errorRateMax,
      powerBudgetW,
      accuracyFloor,
      resultCache: { entries, ttlMs },
    },
  };
}

function isPolicyField(f: string): f is keyof PolicySettings {
  return Object.hasOwn(FIELD_LABELS, f);
}

/** A refused update for the form: each issue under its field's label, plus which inputs to mark invalid. */
export function describePolicyError(message: string): { text: string; fields: (keyof PolicySettings)[] } {
  const issues = errorIssues(message);
  const fields: (keyof PolicySettings)[] = [];
  const parts = issues.map((i) => {
    const top = i.field.split('.')[0] ?? '';
    if (!isPolicyField(top)) return i.field ? `${i.field}: ${i.message}` : i.message;
    fields.push(top);
    return `${FIELD_LABELS[top]} (${i.field}): ${i.message}`;
  });
  return { text: parts.join('; '), fields };
}

/** Adds a precision at the end of the order (least preferred), or removes it if it is there. */
export function togglePrecision(order: readonly Precision[], p: Precision): Precision[] {
  return order.includes(p) ? order.filter((x) => x !== p) : [...order, p];
}

/** Moves a chosen precision one place earlier (-1, more preferred) or later (+1); a no-op at the ends. */
export function movePrecision(order: readonly Precision[], p: Precision, delta: -1 | 1): Precision[] {
  const from = order.indexOf(p);
  const to = from + delta;
  if (from < 0 || to < 0 || to >= order.length) return [...order];
  const next = [...order];
  next[from] = next[to] ?? p;
  next[to] = p;
  return next;
}

/** Rows for the precision picker: chosen precisions in preference order first, then the others. */
export function precisionChoices(order: readonly Precision[]): { precision: Precision; rank: number | null }[] {
  const chosen = order.map((precision, i) => ({ precision, rank: i + 1 }));
  const rest = PRECISIONS.filter((p) => !order.includes(p)).map((precision) => ({ precision, rank: null }));
  return [...chosen, ...rest];
}

/** Policies grouped by risk tier, high first; a tier the dashboard does not know goes last rather than vanishing. */
export function groupByTier<T extends { tier: string; scenario: string }>(rows: readonly T[]): { tier: string; rows: T[] }[] {
  const order: string[] = [...TIERS, ...new Set(rows.map((r) => r.tier).filter((t) => !TIERS.some((k) => k === t)))];
  return order
    .map((tier) => ({ tier, rows: rows.filter((r) => r.tier === tier).sort((a, b) => a.scenario.localeCompare(b.scenario)) }))
    .filter((g) => g.rows.length > 0);
}

export function tierLabel(tier: string): string {
  return `${tier} risk`;
}
