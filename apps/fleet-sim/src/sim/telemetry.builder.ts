import type { HardwareProfile, TelemetryWindow } from '@edge-fleet/shared';
import type { FaultState } from './faults.js';
import { latencyDistribution, windowHistogram, windowLatency, type SimModel } from './latency.model.js';

export interface ActiveSimModel extends SimModel {
  modelVersionId: string;
  variantId: string;
  sha256: string;
}

export interface WindowInput {
  deviceId: string;
  bootId: string;
  seq: number;
  startMs: number;
  endMs: number;
  profile: HardwareProfile;
  preset: string;
  model: ActiveSimModel | null;
  rateHz: number;
  slowFactor: number;
  /** The device's persistent speed factor among its hardware class (deviceSpeedFactor). */
  deviceFactor?: number;
  faults: FaultState;
  rand: () => number;
}

const round3 = (n: number): number => Math.round(n * 1000) / 1000;

/**
 * One simulated telemetry window. Inferences follow the desired rate (capped by what the latency
 * allows on one core); power is the profile's idle + (active − idle) × utilisation, labelled
 * `simulated`; memory is a nominal agent footprint plus the model size.
 */
export function buildWindow(w: WindowInput): TelemetryWindow {
  const seconds = Math.max(0, (w.endMs - w.startMs) / 1000);
  const effects = w.faults.nextWindow();
  let inferences = 0;
  let errors = 0;
  let latency = null;
  let histogram = null;
  let utilisation = 0;
  if (w.model) {
    const dist = latencyDistribution(w.profile, w.model, w.slowFactor * (w.deviceFactor ?? 1));
    const rate = Math.min(w.rateHz, 1000 / Math.max(dist.medianMs, 1e-3));
    inferences = Math.max(0, Math.round(rate * seconds * (0.98 + 0.04 * w.rand())));
    errors = Math.min(inferences, Math.round(inferences * effects.errorRate * w.rand() * 2));
    latency = windowLatency(dist, inferences, w.rand);
    histogram = windowHistogram(dist, inferences, w.rand);
    utilisation = Math.min(1, (rate * dist.medianMs) / 1000);
  }
  const p = w.profile;
  const watts = (p.idlePowerW + (p.activePowerW - p.idlePowerW) * utilisation) * effects.powerFactor;
  return {
    schema: 1,
    deviceId: w.deviceId,
    bootId: w.bootId,
    seq: w.seq,
    windowStart: new Date(w.startMs).toISOString(),
    windowEnd: new Date(w.endMs).toISOString(),
    modelVersionId: w.model?.modelVersionId ?? null,
    variantId: w.model?.variantId ?? null,
    precision: w.model?.precision ?? null,
    inferences,
    errors,
    latencyMs: latency,
    power: {
      watts: round3(Math.min(watts, 10_000)),
      source: 'simulated',
      detail: `fleet-sim model of ${w.preset}: idle ${p.idlePowerW} W + utilisation × ${round3(p.activePowerW - p.idlePowerW)} W`,
    },
    memory: { rssMb: round3(48 + (w.model ? w.model.sizeBytes / 1_048_576 : 0)), heapUsedMb: 12 },
    cacheHits: 0,
    fallbacks: 0,
    // simulated devices have no applications: their windows are the synthetic workload's
    source: 'probe',
    latencyHistogram: histogram,
  };
}
