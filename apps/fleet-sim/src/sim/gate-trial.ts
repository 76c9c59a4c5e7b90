import {
  DEFAULT_GATES,
  evaluateGates,
  HARDWARE_PRESETS,
  LatencyHistogram,
  type BaselineFigures,
  type DeviceDistribution,
  type DeviceEvidence,
  type GateResult,
  type GateSpec,
  type HardwareProfile,
  type SparseHistogram,
} from '@edge-fleet/shared';
import { createPrng } from '../core/prng.js';
import { deviceSpeedFactor, latencyDistribution, windowHistogram, windowLatency, type SimModel } from './latency.model.js';

/**
 * One simulated canary wave judged by the gates, from the simulator's seeded latency model with its
 * per-device and per-window noise: what the gate statistics are tested and benchmarked on.
 */
export interface GateTrial {
  seed: number;
  canaryDevices: number;
  baselineDevices: number;
  windowsPerDevice: number;
  inferencesPerWindow: number;
  /** The new version's latency over the old one's (1 = same distribution, 1.3 = 30 % slower at every percentile). */
  slowdown: number;
  profile?: HardwareProfile;
  /** The old model: measured on the reference accelerator (the trading demo's figures by default). */
  model?: SimModel;
  gates?: readonly GateSpec[];
}

/** The trading tier: p99 under 10 ms. */
export const TRIAL_POLICY = { latencyTargetMs: 10, latencyPercentile: 'p99', errorRateMax: 0.0001, powerBudgetW: 5 } as const;
const TRIAL_MODEL: SimModel = { sizeBytes: 4_000_000, precision: 'fp16', measured: { p50Ms: 2, p99Ms: 3.6 } };

interface SimDevice {
  deviceId: string;
  histogram: SparseHistogram;
  windows: number;
  inferences: number;
  medianWindowP99: number;
}

function simulateDevice(id: string, t: GateTrial, slowdown: number, rand: () => number): SimDevice {
  const profile = t.profile ?? HARDWARE_PRESETS['edge-npu-trading'];
  const dist = latencyDistribution(profile, t.model ?? TRIAL_MODEL, slowdown * deviceSpeedFactor(rand));
  const h = new LatencyHistogram();
  const p99s: number[] = [];
  for (let w = 0; w < t.windowsPerDevice; w++) {
    const win = windowHistogram(dist, t.inferencesPerWindow, rand, t.inferencesPerWindow);
    if (win) h.addSparse(win);
    p99s.push(windowLatency(dist, t.inferencesPerWindow, rand)?.p99 ?? 0);
  }
  p99s.sort((a, b) => a - b);
  return {
    deviceId: id,
    histogram: h.toSparse(),
    windows: t.windowsPerDevice,
    inferences: h.count,
    medianWindowP99: p99s[p99s.length >> 1] ?? 0,
  };
}

/** The wave's evidence and its baseline cohort, as the rollout repository hands them to the gates. */
export function simulateWave(t: GateTrial): { evidence: DeviceEvidence[]; baseline: BaselineFigures; hardwareClass: string } {
  const rand = createPrng(t.seed);
  const hardwareClass = (t.profile ?? HARDWARE_PRESETS['edge-npu-trading']).hardwareClass;
  const canary = Array.from({ length: t.canaryDevices }, (_, i) => simulateDevice(`canary-${i}`, t, t.slowdown, rand));
  const base = Array.from({ length: t.baselineDevices }, (_, i) => simulateDevice(`baseline-${i}`, t, 1, rand));
  const evidence = canary.map((d): DeviceEvidence => ({
    deviceId: d.deviceId,
    hardwareClass,
    state: 'applied',
    failure: null,
    late: false,
    windows: d.windows,
    inferences: d.inferences,
    errors: 0,
    latencyMs: d.medianWindowP99,
    histogram: d.histogram,
    histogramWindows: d.windows,
    powerW: 2,
    powerSource: 'simulated',
    policy: { ...TRIAL_POLICY },
  }));
  const sorted = base.map((d) => d.medianWindowP99).sort((a, b) => a - b);
  const baseline: BaselineFigures = {
    devices: base.length,
    latencyMs: sorted[sorted.length >> 1] ?? null,
    errorRate: 0,
    distributions: base.map((d): DeviceDistribution => ({ deviceId: d.deviceId, histogram: d.histogram, windows: d.windows })),
  };
  return { evidence, baseline, hardwareClass };
}

/** Runs one trial through the gates. */
export function runTrial(t: GateTrial): GateResult {
  const { evidence, baseline, hardwareClass } = simulateWave(t);
  return evaluateGates(evidence, t.gates ?? DEFAULT_GATES, (hc) => (hc === hardwareClass ? baseline : null), new Date(0));
}
