import { PolicySettingsSchema, ScenarioSchema, TierSchema, type PolicySettings, type Scenario } from '@edge-fleet/shared';
import { parse, stringify } from 'yaml';
import {
  ALERT_RULE_FIELDS,
  AlertRuleSettingsSchema,
  REMEDIATION_SETTINGS_FIELDS,
  POLICY_YAML_LATENCY as LATENCY,
  PolicyYamlDocumentSchema as DocumentSchema,
  RemediationSettingsSchema,
  type AlertRuleSettings,
  type AlertRuleView,
  type PolicyView,
  type PolicyYamlAlertRule,
  type PolicyYamlRemediation,
  type RemediationSettings,
  type RemediationSettingsView,
} from '@edge-fleet/shared/api';
import type { z } from 'zod';
import { AppError } from '../errors.js';

/** What a policy document asks for, validated whole before anything is applied. */
export interface PolicyDocument {
  policies: { scenario: Scenario; settings: PolicySettings }[];
  /** The rule lists the document declares: a scenario's, or null for the fleet-wide list. */
  ruleScopes: (Scenario | null)[];
  rules: AlertRuleSettings[];
  /** Remediation settings given per scenario; absent keys keep their value. */
  remediation: { scenario: Scenario; settings: Partial<RemediationSettings> }[];
}

const snake = (camel: string) => camel.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
const camel = (snakeKey: string) => snakeKey.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

/** Keys in snake_case, in the order given, leaving out undefined values. */
function snakeKeys(o: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(keys.filter((k) => o[k] !== undefined).map((k) => [snake(k), o[k]]));
}

// the scenario is where a rule sits in the document, not one of its keys
const RULE_KEYS = ALERT_RULE_FIELDS.filter((k) => k !== 'scenario');

function ruleToYaml(r: AlertRuleView): Record<string, unknown> {
  // null threshold/percentile: the policy's; left out so the document reads as the policy does
  return snakeKeys({ ...r, threshold: r.threshold ?? undefined, percentile: r.percentile ?? undefined }, RULE_KEYS);
}

/**
 * The policy set as YAML in the shape of the brief's deployment strategy: risk tier → scenario →
 * settings, with snake_case keys and the latency target written as the brief writes it; each
 * scenario's alert rules and remediation settings under it, and the fleet-wide rules at the end.
 */
export function policiesToYaml(policies: PolicyView[], rules: AlertRuleView[], remediation: RemediationSettingsView[]): string {
  const strategy: Record<string, Record<string, unknown>> = {};
  const byName = (a: AlertRuleView, b: AlertRuleView) => a.name.localeCompare(b.name);
  for (const p of policies) {
    const tier = (strategy[`${p.tier}_risk`] ??= {});
    const rem = remediation.find((r) => r.scenario === p.scenario);
    tier[p.scenario] = {
      latency_target: `${p.latencyPercentile} < ${p.latencyTargetMs}ms`,
      location: p.location,
      precision: p.precisionOrder,
      memory_placement: p.memoryPlacement,
      error_rate_max: p.errorRateMax,
      power_budget_w: p.powerBudgetW,
      accuracy_floor: p.accuracyFloor,
      result_cache: { entries: p.resultCache.entries, ttl_ms: p.resultCache.ttlMs },
      alerts: rules
        .filter((r) => r.scenario === p.scenario)
        .sort(byName)
        .map(ruleToYaml),
      ...(rem ? { remediation: snakeKeys(rem, REMEDIATION_SETTINGS_FIELDS) } : {}),
    };
  }
  return stringify({
    deployment_strategy: strategy,
    alerts: rules
      .filter((r) => r.scenario === null)
      .sort(byName)
      .map(ruleToYaml),
  });
}

function fail(message: string): never {
  throw new AppError('invalid_request', `invalid policy YAML: ${message}`);
}

/** The first issues of a refused value, each under `place` and its field's YAML (snake_case) name. */
function issuesAt(place: string, issues: readonly z.core.$ZodIssue[]): string {
  return issues
    .slice(0, 5)
    .map((i) => `${[place, ...i.path.map((k) => snake(String(k)))].join('.')}: ${i.message}`)
    .join('; ');
}

function rulesFrom(place: string, list: PolicyYamlAlertRule[], scenario: Scenario | null): AlertRuleSettings[] {
  return list.map((entry, i) => {
    const body = Object.fromEntries(Object.entries(entry).map(([k, v]) => [camel(k), v]));
    const r = AlertRuleSettingsSchema.safeParse({ ...body, scenario });
    if (!r.success) fail(issuesAt(`${place}.alerts.${i}`, r.error.issues));
    return r.data;
  });
}

function remediationFrom(place: string, entry: PolicyYamlRemediation): Partial<RemediationSettings> {
  const body = Object.fromEntries(Object.entries(entry).map(([k, v]) => [camel(k), v]));
  const r = RemediationSettingsSchema.partial().safeParse(body);
  if (!r.success) fail(issuesAt(`${place}.remediation`, r.error.issues));
  return r.data;
}

/** Parses and validates a whole policy document; any problem names its place, and nothing is applied. */
export function policiesFromYaml(text: string): PolicyDocument {
  let doc: unknown;
  try {
    doc = parse(text, { maxAliasCount: 10 });
  } catch (e) {
    fail(e instanceof Error ? (e.message.split('\n')[0] ?? 'unparseable') : 'unparseable');
  }
  const r = DocumentSchema.safeParse(doc);
  if (!r.success)
    fail(
      r.error.issues
        .map((i) => `${i.path.join('.')}: ${i.message}`)
        .slice(0, 5)
        .join('; '),
    );
  const out: PolicyDocument = { policies: [], ruleScopes: [], rules: [], remediation: [] };
  for (const [tierKey, scenarios] of Object.entries(r.data.deployment_strategy)) {
    const tier = TierSchema.safeParse(tierKey.replace(/_risk$/, ''));
    if (!tier.success) fail(`deployment_strategy.${tierKey}: unknown risk tier (high_risk, medium_risk or low_risk)`);
    for (const [name, s] of Object.entries(scenarios)) {
      const place = `deployment_strategy.${tierKey}.${name}`;
      const scenario = ScenarioSchema.safeParse(name);
      if (!scenario.success) fail(`${place}: unknown scenario`);
      const [, pct, ms] = LATENCY.exec(s.latency_target) ?? [];
      const settings = PolicySettingsSchema.safeParse({
        tier: tier.data,
        latencyTargetMs: Number(ms),
        latencyPercentile: pct,
        location: s.location,
        precisionOrder: Array.isArray(s.precision) ? s.precision : [s.precision],
        memoryPlacement: s.memory_placement,
        errorRateMax: s.error_rate_max,
        powerBudgetW: s.power_budget_w ?? null,
        accuracyFloor: s.accuracy_floor,
        ...(s.result_cache === undefined ? {} : { resultCache: { entries: s.result_cache.entries, ttlMs: s.result_cache.ttl_ms } }),
      });
      if (!settings.success) fail(`${place}: ${settings.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
      out.policies.push({ scenario: scenario.data, settings: settings.data });
      if (s.alerts) {
        out.ruleScopes.push(scenario.data);
        out.rules.push(...rulesFrom(place, s.alerts, scenario.data));
      }
      if (s.remediation) out.remediation.push({ scenario: scenario.data, settings: remediationFrom(place, s.remediation) });
    }
  }
  if (new Set(out.policies.map((o) => o.scenario)).size !== out.policies.length) fail('a scenario appears more than once');
  if (r.data.alerts) {
    out.ruleScopes.push(null);
    out.rules.push(...rulesFrom('alerts', r.data.alerts, null));
  }
  const names = out.rules.map((x) => x.name);
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice !== undefined) fail(`alert rule ${twice} appears more than once (rule names are unique across the document)`);
  return out;
}
