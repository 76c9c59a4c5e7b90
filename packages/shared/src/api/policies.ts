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
});

/** The parsed YAML document: risk tier (`high_risk`, …) → scenario → settings. */
export const PolicyYamlDocumentSchema = z.strictObject({
  deployment_strategy: z.record(z.string(), z.record(z.string(), PolicyYamlScenarioSchema)),
});
export type PolicyYamlDocument = z.infer<typeof PolicyYamlDocumentSchema>;

/** tRPC `policies.importYaml` input. */
export const PolicyYamlImportInputSchema = z.strictObject({ yaml: PolicyYamlSchema });
export type PolicyYamlImportInput = z.infer<typeof PolicyYamlImportInputSchema>;

/** tRPC `policies.exportYaml` result (REST answers the YAML itself). */
export const PolicyYamlExportSchema = z.object({ yaml: z.string() });
export type PolicyYamlExport = z.infer<typeof PolicyYamlExportSchema>;

/** Result of a YAML import: the scenarios it changed and the whole policy set after it. */
export const PolicyImportResultSchema = z.object({ updated: z.array(z.string()), items: z.array(PolicyViewSchema) });
export type PolicyImportResult = z.infer<typeof PolicyImportResultSchema>;
