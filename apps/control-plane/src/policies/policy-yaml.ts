import { PolicySettingsSchema, ScenarioSchema, TierSchema, type PolicySettings, type Scenario } from '@edge-fleet/shared';
import { parse, stringify } from 'yaml';
import { POLICY_YAML_LATENCY as LATENCY, PolicyYamlDocumentSchema as DocumentSchema } from '@edge-fleet/shared/api';
import { AppError } from '../errors.js';
import type { PolicyView } from './policy.repository.js';

/**
 * The policy set as YAML in the shape of the brief's deployment strategy: risk tier → scenario →
 * settings, with snake_case keys and the latency target written as the brief writes it.
 */
export function policiesToYaml(policies: PolicyView[]): string {
  const strategy: Record<string, Record<string, unknown>> = {};
  for (const p of policies) {
    const tier = (strategy[`${p.tier}_risk`] ??= {});
    tier[p.scenario] = {
      latency_target: `${p.latencyPercentile} < ${p.latencyTargetMs}ms`,
      location: p.location,
      precision: p.precisionOrder,
      memory_placement: p.memoryPlacement,
      error_rate_max: p.errorRateMax,
      power_budget_w: p.powerBudgetW,
      accuracy_floor: p.accuracyFloor,
      result_cache: { entries: p.resultCache.entries, ttl_ms: p.resultCache.ttlMs },
    };
  }
  return stringify({ deployment_strategy: strategy });
}

function fail(message: string): never {
  throw new AppError('invalid_request', `invalid policy YAML: ${message}`);
}

/** Parses and validates a whole policy document; any problem names its place, and nothing is applied. */
export function policiesFromYaml(text: string): { scenario: Scenario; settings: PolicySettings }[] {
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
  const out: { scenario: Scenario; settings: PolicySettings }[] = [];
  for (const [tierKey, scenarios] of Object.entries(r.data.deployment_strategy)) {
    const tier = TierSchema.safeParse(tierKey.replace(/_risk$/, ''));
    if (!tier.success) fail(`deployment_strategy.${tierKey}: unknown risk tier (high_risk, medium_risk or low_risk)`);
    for (const [name, s] of Object.entries(scenarios)) {
      const scenario = ScenarioSchema.safeParse(name);
      if (!scenario.success) fail(`deployment_strategy.${tierKey}.${name}: unknown scenario`);
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
      if (!settings.success)
        fail(`deployment_strategy.${tierKey}.${name}: ${settings.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
      out.push({ scenario: scenario.data, settings: settings.data });
    }
  }
  if (new Set(out.map((o) => o.scenario)).size !== out.length) fail('a scenario appears more than once');
  return out;
}
