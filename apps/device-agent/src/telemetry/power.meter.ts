import { readFileSync } from 'node:fs';
import type { HardwareProfile, PowerSource } from '@edge-fleet/shared';

export interface PowerReading {
  watts: number;
  source: PowerSource;
  detail: string;
}

/** Measures (or estimates) average power over consecutive windows. */
export interface PowerMeter {
  /** Marks the start of a window. */
  begin(): void;
  /** Average power since `begin`, given the window length and how busy the accelerator was. */
  end(windowSeconds: number, utilisation: number): PowerReading;
}

/** Linear model between the profile's idle and active power; always labelled as an estimate. */
export function estimatePower(profile: HardwareProfile, label: string, utilisation: number): PowerReading {
  const u = Math.min(1, Math.max(0, Number.isFinite(utilisation) ? utilisation : 0));
  const watts = profile.idlePowerW + (profile.activePowerW - profile.idlePowerW) * u;
  const detail =
    `estimate from hardware profile ${label}: idle ${profile.idlePowerW} W + ` +
    `active ${profile.activePowerW} W × ${Math.round(u * 100)} % busy`;
  return { watts: round3(watts), source: 'estimate', detail: detail.slice(0, 256) };
}

export class EstimatePowerMeter implements PowerMeter {
  constructor(
    private readonly profile: HardwareProfile,
    private readonly label: string,
  ) {}

  begin(): void {}

  end(_windowSeconds: number, utilisation: number): PowerReading {
    return estimatePower(this.profile, this.label, utilisation);
  }
}

/**
 * Intel RAPL (or any cumulative microjoule counter): watts = Δenergy / Δt. Handles one counter
 * wrap via `max_energy_range_uj`; falls back to the estimate when a read fails.
 */
export class EnergyCounterPowerMeter implements PowerMeter {
  private startUj: number | null = null;

  constructor(
    private readonly path: string,
    private readonly fallback: PowerMeter,
    private readonly maxRangeUj: number | null = readCounter(siblingMaxRange(path)),
  ) {}

  begin(): void {
    this.startUj = readCounter(this.path);
    this.fallback.begin();
  }

  end(windowSeconds: number, utilisation: number): PowerReading {
    const now = readCounter(this.path);
    const start = this.startUj;
    this.startUj = now;
    if (now === null || start === null || windowSeconds <= 0) return this.fallback.end(windowSeconds, utilisation);
    let delta = now - start;
    if (delta < 0) {
      if (this.maxRangeUj === null) return this.fallback.end(windowSeconds, utilisation);
      delta += this.maxRangeUj;
    }
    return { watts: round3(delta / 1e6 / windowSeconds), source: 'sensor', detail: this.path.slice(0, 256) };
  }
}

export const DEFAULT_ENERGY_COUNTERS = ['/sys/class/powercap/intel-rapl:0/energy_uj'];

/** Uses the first readable energy counter, else the profile estimate. */
export function detectPowerMeter(
  profile: HardwareProfile,
  label: string,
  candidates: readonly string[] = DEFAULT_ENERGY_COUNTERS,
): PowerMeter {
  const estimate = new EstimatePowerMeter(profile, label);
  const path = candidates.find((p) => readCounter(p) !== null);
  return path === undefined ? estimate : new EnergyCounterPowerMeter(path, estimate);
}

function readCounter(path: string): number | null {
  try {
    const n = Number(readFileSync(path, 'utf8').trim());
    return Number.isFinite(n) && n >= 0 ? n : null;
  } catch {
    return null;
  }
}

function siblingMaxRange(path: string): string {
  return path.replace(/energy_uj$/, 'max_energy_range_uj');
}

function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}
