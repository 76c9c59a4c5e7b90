import { HARDWARE_PRESETS, ScenarioSchema, type HardwarePresetName, type Scenario } from '@edge-fleet/shared';
import { createPrng } from '../core/prng.js';

export const PRESET_NAMES = Object.keys(HARDWARE_PRESETS) as HardwarePresetName[];
export const SCENARIOS: readonly Scenario[] = ScenarioSchema.options;

/** The hardware each scenario typically runs on (the demo's pairing); `even` spreads over these. */
export const SCENARIO_PRESET: Record<Scenario, HardwarePresetName> = {
  financial_trading: 'edge-npu-trading',
  autonomous_driving: 'edge-dsa-vehicle',
  customer_support_agent: 'edge-gpu-kiosk',
  robotic_manipulation: 'robot-npu-arm',
  content_generation_agent: 'cloud-gpu-node',
  data_analysis_agent: 'cloud-cpu-node',
};

export type ScenarioMix = { kind: 'even' } | { kind: 'random' } | { kind: 'only'; scenario: Scenario };

export interface DevicePlan {
  index: number;
  scenario: Scenario;
  preset: HardwarePresetName;
}

/**
 * Which scenario and hardware each of n devices gets. `even`: round-robin over the six scenarios,
 * each on its usual hardware; `random`: seeded random scenario and hardware; `only`: one scenario.
 */
export function planFleet(n: number, mix: ScenarioMix, seed: number): DevicePlan[] {
  const rand = createPrng(seed);
  return Array.from({ length: n }, (_, index) => {
    const scenario = pickScenario(mix, index, rand);
    const preset =
      mix.kind === 'random' ? (PRESET_NAMES[Math.floor(rand() * PRESET_NAMES.length)] ?? 'cloud-cpu-node') : SCENARIO_PRESET[scenario];
    return { index, scenario, preset };
  });
}

function pickScenario(mix: ScenarioMix, index: number, rand: () => number): Scenario {
  switch (mix.kind) {
    case 'only':
      return mix.scenario;
    case 'even':
      return SCENARIOS[index % SCENARIOS.length] ?? 'data_analysis_agent';
    case 'random':
      return SCENARIOS[Math.floor(rand() * SCENARIOS.length)] ?? 'data_analysis_agent';
  }
}

/** Parses `even`, `random` or a scenario name. */
export function parseScenarioMix(value: string): ScenarioMix | null {
  if (value === 'even' || value === 'random') return { kind: value };
  const s = ScenarioSchema.safeParse(value);
  return s.success ? { kind: 'only', scenario: s.data } : null;
}
