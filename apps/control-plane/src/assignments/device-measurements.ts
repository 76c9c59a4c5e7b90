import { DeviceBenchmarkSchema, MeasuredLatencySchema, type DeviceMeasurements, type LatencyFigures } from '@edge-fleet/shared';

/** The measurements in a stored reported state; a part that does not parse (an older agent's) is left out. */
export function measurementsOf(measuredLatency: unknown, benchmark: unknown): DeviceMeasurements {
  const variants: Record<string, LatencyFigures & { runs: number; executionProvider: string }> = {};
  const list = MeasuredLatencySchema.array().safeParse(measuredLatency ?? []);
  // newest first: the first measurement of a variant wins
  for (const m of list.data ?? []) variants[m.variantId] ??= { ...m };
  const bench = DeviceBenchmarkSchema.safeParse(benchmark);
  return { variants, benchmark: bench.success ? { model: bench.data.model, p50Ms: bench.data.p50Ms } : null };
}
