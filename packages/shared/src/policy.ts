import type { Location, Precision, Scenario, Tier } from './schemas.js';

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
  /** Power budget in watts, or null where the brief sets none. */
  powerBudgetW: number | null;
}

/** The default policy set: the brief's deployment strategy table (SPEC.md). */
export const DEFAULT_POLICIES: readonly ScenarioPolicy[] = [
  { scenario: 'financial_trading', tier: 'high', latencyTargetMs: 10, latencyPercentile: 'p99', location: 'edge', precisionOrder: ['fp16', 'fp32'], memoryPlacement: 'SRAM+DRAM', errorRateMax: 0.0001, powerBudgetW: null },
  { scenario: 'autonomous_driving', tier: 'high', latencyTargetMs: 5, latencyPercentile: 'p95', location: 'edge', precisionOrder: ['int8', 'fp16', 'fp32'], memoryPlacement: 'SRAM+L2+L3', errorRateMax: 0.001, powerBudgetW: null },
  { scenario: 'customer_support_agent', tier: 'medium', latencyTargetMs: 50, latencyPercentile: 'p99', location: 'hybrid', precisionOrder: ['fp16', 'fp32'], memoryPlacement: 'DRAM+cache', errorRateMax: 0.01, powerBudgetW: null },
  { scenario: 'robotic_manipulation', tier: 'medium', latencyTargetMs: 20, latencyPercentile: 'p99', location: 'hybrid', precisionOrder: ['int8', 'fp16', 'fp32'], memoryPlacement: 'L2+L3+DRAM', errorRateMax: 0.01, powerBudgetW: 5 },
  { scenario: 'content_generation_agent', tier: 'low', latencyTargetMs: 200, latencyPercentile: 'p99', location: 'cloud', precisionOrder: ['fp32'], memoryPlacement: 'DRAM+disk', errorRateMax: 0.05, powerBudgetW: null },
  { scenario: 'data_analysis_agent', tier: 'low', latencyTargetMs: 500, latencyPercentile: 'p99', location: 'cloud', precisionOrder: ['fp32'], memoryPlacement: 'DRAM+disk', errorRateMax: 0.05, powerBudgetW: null },
];

export function defaultPolicy(scenario: Scenario): ScenarioPolicy {
  const p = DEFAULT_POLICIES.find((x) => x.scenario === scenario);
  if (!p) throw new Error(`no default policy for scenario ${scenario}`);
  return p;
}
