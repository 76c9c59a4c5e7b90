import { describe, expect, it } from 'vitest';
import { runTrial, type GateTrial } from './gate-trial.js';

/** A canary of 10 devices against 30 still on the old model, one minute of 10 s windows at 50 inferences/s. */
const wave: Omit<GateTrial, 'seed' | 'slowdown'> = {
  canaryDevices: 10,
  baselineDevices: 30,
  windowsPerDevice: 6,
  inferencesPerWindow: 500,
};

const verdicts = (slowdown: number, n = 50): string[] =>
  Array.from({ length: n }, (_, i) => runTrial({ ...wave, seed: 1_000 + i, slowdown }).outcome);

describe('default gates on simulated rollouts (row 29)', () => {
  it('row 29: a re-versioned model with the same latency distribution passes at least 49 of 50 seeded rollouts', () => {
    const v = verdicts(1);
    const passed = v.filter((x) => x === 'passed').length;
    console.log(`same distribution: ${passed}/50 passed (false-failure rate ${((50 - passed) / 50) * 100} %)`);
    expect(passed).toBeGreaterThanOrEqual(49);
  });
  it('row 29: a version 30 % slower at the percentile is caught in at least 49 of 50 seeded rollouts', () => {
    const v = verdicts(1.3);
    const caught = v.filter((x) => x === 'failed').length;
    console.log(`30 % slower: ${caught}/50 caught`);
    expect(caught).toBeGreaterThanOrEqual(49);
  });
  it('judges the same stored windows the same way every time', () => {
    const t = { ...wave, seed: 77, slowdown: 1.2 };
    expect(JSON.stringify(runTrial(t))).toBe(JSON.stringify(runTrial(t)));
  });
  it('row 29: with too few inferences per device the wave waits for evidence, never passes', () => {
    const r = runTrial({ ...wave, seed: 5, slowdown: 1, inferencesPerWindow: 20, windowsPerDevice: 2 });
    expect(r.outcome).toBe('insufficient_evidence');
    const g = r.gates.find((x) => x.metric === 'baseline_regression');
    expect(g?.outcome).toBe('insufficient_evidence');
    expect(g?.classes?.[0]?.why).toContain('canary 400 inference(s) in 20 window(s); needs 1000 in 3');
  });
});
