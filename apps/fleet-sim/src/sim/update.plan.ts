import type { SimDesiredModel as DesiredModel } from './desired.view.js';

/** How long each simulated update step takes, before the time scale applies. */
export const UPDATE_COST = {
  downloadFixedMs: 20,
  /** 100 Mbit/s. */
  downloadBytesPerMs: 12_500,
  verifyFixedMs: 5,
  verifyBytesPerMs: 400_000,
  /** Load in the standby slot + smoke test on golden inputs. */
  activateFixedMs: 50,
  activateBytesPerMs: 100_000,
} as const;

export interface UpdateDelays {
  downloadMs: number;
  verifyMs: number;
  activateMs: number;
}

/** Step durations for a model of this size; `timeScale` 0 makes updates instant (fan-out benchmarks). */
export function updateDelays(model: Pick<DesiredModel, 'sizeBytes'>, timeScale: number, jitter: number): UpdateDelays {
  const s = timeScale * (0.8 + 0.4 * jitter);
  return {
    downloadMs: s * (UPDATE_COST.downloadFixedMs + model.sizeBytes / UPDATE_COST.downloadBytesPerMs),
    verifyMs: s * (UPDATE_COST.verifyFixedMs + model.sizeBytes / UPDATE_COST.verifyBytesPerMs),
    activateMs: s * (UPDATE_COST.activateFixedMs + model.sizeBytes / UPDATE_COST.activateBytesPerMs),
  };
}
