import { z } from 'zod';
import { ScenarioPolicySchema } from '../policy.js';

/** One scenario's policy as the API returns it, with the model version assigned to the scenario. */
export const PolicyViewSchema = z.object({
  scenario: z.string(),
  tier: z.string(),
  latencyTargetMs: z.number(),
  latencyPercentile: z.string(),
  location: z.string(),
  precisionOrder: z.array(z.string()),
  memoryPlacement: z.string(),
  errorRateMax: z.number(),
  powerBudgetW: z.number().nullable(),
  accuracyFloor: z.number(),
  /** The agents' result cache for the scenario; `entries: 0` is off. */
  resultCache: z.object({ entries: z.number(), ttlMs: z.number() }),
  model: z.object({ modelVersionId: z.string(), name: z.string(), version: z.string() }).nullable(),
});
export type PolicyView = z.infer<typeof PolicyViewSchema>;

/** REST `GET /api/v1/policies` and tRPC `policies.list` result. */
export const PolicyListSchema = z.object({ items: z.array(PolicyViewSchema) });
export type PolicyList = z.infer<typeof PolicyListSchema>;

/** tRPC `policies.update` input: REST sends the scenario in the path and the settings as the body. */
export const PolicyUpdateInputSchema = ScenarioPolicySchema;
export type PolicyUpdateInput = z.infer<typeof PolicyUpdateInputSchema>;

/** The policy YAML document (deployment-strategy shape): REST sends it as the request body. */
export const PolicyYamlSchema = z.string().min(1).max(262_144);

/** A latency target as the brief writes it: `p99 < 10ms`. */
export const POLICY_YAML_LATENCY = /^(p50|p95|p99)\s*<\s*(\d+(?:\.\d+)?)\s*ms$/;

/**
 * An alert rule in the YAML document: AlertRuleSettingsSchema's fields in snake_case (its scenario
 * is the entry it sits under; none under the top-level `alerts`). Only the keys are checked here;
 * the values are checked by AlertRuleSettingsSchema, so a bad one is refused as over REST.
 */
export const PolicyYamlAlertRuleSchema = z.strictObject({
  name: z.unknown(),
  metric: z.unknown(),
  threshold: z.unknown().optional(),
  percentile: z.unknown().optional(),
  for_seconds: z.unknown().optional(),
  lookback_seconds: z.unknown().optional(),
  hysteresis: z.unknown().optional(),
  severity: z.unknown().optional(),
  enabled: z.unknown().optional(),
});
export type PolicyYamlAlertRule = z.infer<typeof PolicyYamlAlertRuleSchema>;

/** A scenario's remediation settings in the YAML document (RemediationSettingsSchema in snake_case); absent keys keep their value. */
export const PolicyYamlRemediationSchema = z.strictObject({
  mode: z.unknown().optional(),
  max_devices_per_hour: z.unknown().optional(),
  max_percent_per_hour: z.unknown().optional(),
  hold_off_seconds: z.unknown().optional(),
  check_window_seconds: z.unknown().optional(),
  rate_factor: z.unknown().optional(),
  duty_cycle: z.unknown().optional(),
});
export type PolicyYamlRemediation = z.infer<typeof PolicyYamlRemediationSchema>;

/** At most this many rules in one list of the YAML document. */
export const POLICY_YAML_MAX_RULES = 200;
const yamlRules = z.array(PolicyYamlAlertRuleSchema).max(POLICY_YAML_MAX_RULES);

/** One scenario's settings in the YAML document: snake_case keys, the latency target as text. */
export const PolicyYamlScenarioSchema = z.strictObject({
  latency_target: z.string().regex(POLICY_YAML_LATENCY, 'must look like "p99 < 10ms"'),
  location: z.string(),
  precision: z.union([z.string(), z.array(z.string())]),
  memory_placement: z.string(),
  error_rate_max: z.number(),
  power_budget_w: z.number().nullable().optional(),
  accuracy_floor: z.number(),
  /** Absent: the scenario's cache is left as it is. */
  result_cache: z.strictObject({ entries: z.number(), ttl_ms: z.number() }).optional(),
  /** The scenario's alert rules: when present, the whole list (rules of the scenario not named are deleted). */
  alerts: yamlRules.optional(),
  remediation: PolicyYamlRemediationSchema.optional(),
});

/**
 * The parsed YAML document: risk tier (`high_risk`, …) → scenario → settings, and the fleet-wide
 * alert rules (those of no one scenario) under `alerts`.
 */
export const PolicyYamlDocumentSchema = z.strictObject({
  deployment_strategy: z.record(z.string(), z.record(z.string(), PolicyYamlScenarioSchema)),
  alerts: yamlRules.optional(),
});
export type PolicyYamlDocument = z.infer<typeof PolicyYamlDocumentSchema>;

/** tRPC `policies.importYaml` input. */
export const PolicyYamlImportInputSchema = z.strictObject({ yaml: PolicyYamlSchema });
export type PolicyYamlImportInput = z.infer<typeof PolicyYamlImportInputSchema>;

/** tRPC `policies.exportYaml` result (REST answers the YAML itself). */
export const PolicyYamlExportSchema = z.object({ yaml: z.string() });
export type PolicyYamlExport = z.infer<typeof PolicyYamlExportSchema>;

/**
 * Result of a YAML import: the scenarios it changed and the whole policy set after it; the alert
 * rules it created, changed and deleted (by name) and the scenarios whose remediation it changed.
 */
export const PolicyImportResultSchema = z.object({
  updated: z.array(z.string()),
  items: z.array(PolicyViewSchema),
  alertRules: z.object({ created: z.array(z.string()), updated: z.array(z.string()), deleted: z.array(z.string()) }),
  remediation: z.array(z.string()),
});
export type PolicyImportResult = z.infer<typeof PolicyImportResultSchema>;
