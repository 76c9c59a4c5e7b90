import { z } from 'zod';
import {
  LocationSchema,
  PrecisionSchema,
  ResultCacheSettingsSchema,
  ScenarioSchema,
  TierSchema,
  type Location,
  type Precision,
  type Scenario,
  type Tier,
} from './schemas.js';

export type LatencyPercentile = 'p50' | 'p95' | 'p99';

/** One scenario of the risk-tier policy set. */
export interface ScenarioPolicy {
  scenario: Scenario;
  tier: Tier;
  latencyTargetMs: number;
  latencyPercentile: LatencyPercentile;
  location: Location;
  /** Preferred precisions, best first. */
  precisionOrder: Precision[];
  memoryPlacement: string;
  /** Highest acceptable error rate (errors / inferences). */
  errorRateMax: number;
  /** Power budget in watts, or null where the brief sets none (the device's own budget applies). */
  powerBudgetW: number | null;
  /** Lowest output agreement with FP32 (cosine similarity / top-1 agreement) a variant may have. */
  accuracyFloor: number;
}

export const LatencyPercentileSchema = z.enum(['p50', 'p95', 'p99']);

/** The editable part of a scenario's policy (everything but its name). */
export const PolicySettingsSchema = z.strictObject({
  tier: TierSchema,
  latencyTargetMs: z.number().positive().max(3_600_000),
  latencyPercentile: LatencyPercentileSchema,
  location: LocationSchema,
  precisionOrder: z
    .array(PrecisionSchema)
    .min(1)
    .max(4)
    .refine((l) => new Set(l).size === l.length, 'precisions must not repeat'),
  memoryPlacement: z.string().min(1).max(64),
  errorRateMax: z.number().min(0).max(1),
  powerBudgetW: z.number().positive().max(10_000).nullable(),
  accuracyFloor: z.number().min(0).max(1),
  /** The agents' result cache for this scenario (off by default); absent in an update: left as it is. */
  resultCache: ResultCacheSettingsSchema.optional(),
});
export type PolicySettings = z.infer<typeof PolicySettingsSchema>;

export const ScenarioPolicySchema = PolicySettingsSchema.extend({ scenario: ScenarioSchema });

/** The default policy set: the brief's deployment strategy table (SPEC.md). */
export const DEFAULT_POLICIES: readonly ScenarioPolicy[] = [
  {
    scenario: 'financial_trading',
    tier: 'high',
    latencyTargetMs: 10,
    latencyPercentile: 'p99',
    location: 'edge',
    precisionOrder: ['fp16', 'fp32'],
    memoryPlacement: 'SRAM+DRAM',
    errorRateMax: 0.0001,
    powerBudgetW: null,
    accuracyFloor: 0.999,
  },
  {
    scenario: 'autonomous_driving',
    tier: 'high',
    latencyTargetMs: 5,
    latencyPercentile: 'p95',
    location: 'edge',
    precisionOrder: ['int8', 'fp16', 'fp32'],
    memoryPlacement: 'SRAM+L2+L3',
    errorRateMax: 0.001,
    powerBudgetW: null,
    accuracyFloor: 0.99,
  },
  {
    scenario: 'customer_support_agent',
    tier: 'medium',
    latencyTargetMs: 50,
    latencyPercentile: 'p99',
    location: 'hybrid',
    precisionOrder: ['fp16', 'fp32'],
    memoryPlacement: 'DRAM+cache',
    errorRateMax: 0.01,
    powerBudgetW: null,
    accuracyFloor: 0.99,
  },
  {
    scenario: 'robotic_manipulation',
    tier: 'medium',
    latencyTargetMs: 20,
    latencyPercentile: 'p99',
    location: 'hybrid',
    precisionOrder: ['int8', 'fp16', 'fp32'],
    memoryPlacement: 'L2+L3+DRAM',
    errorRateMax: 0.01,
    powerBudgetW: 5,
    accuracyFloor: 0.99,
  },
  {
    scenario: 'content_generation_agent',
    tier: 'low',
    latencyTargetMs: 200,
    latencyPercentile: 'p99',
    location: 'cloud',
    precisionOrder: ['fp32'],
    memoryPlacement: 'DRAM+disk',
    errorRateMax: 0.05,
    powerBudgetW: null,
    accuracyFloor: 0.98,
  },
  {
    scenario: 'data_analysis_agent',
    tier: 'low',
    latencyTargetMs: 500,
    latencyPercentile: 'p99',
    location: 'cloud',
    precisionOrder: ['fp32'],
    memoryPlacement: 'DRAM+disk',
    errorRateMax: 0.05,
    powerBudgetW: null,
    accuracyFloor: 0.98,
  },
];

export function defaultPolicy(scenario: Scenario): ScenarioPolicy {
  const p = DEFAULT_POLICIES.find((x) => x.scenario === scenario);
  if (!p) throw new Error(`no default policy for scenario ${scenario}`);
  return p;
}
