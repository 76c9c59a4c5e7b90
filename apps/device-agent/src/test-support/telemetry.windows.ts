/** An idle window as an agent would send it, before the contract's defaults are filled in. */
export function idleWindow(deviceId: string, bootId: string, seq: number, windowEnd: string, windowStart = windowEnd) {
  return {
    schema: 1 as const,
    deviceId,
    bootId,
    seq,
    windowStart,
    windowEnd,
    modelVersionId: null,
    variantId: null,
    precision: null,
    inferences: 0,
    errors: 0,
    latencyMs: null,
    power: { watts: 1, source: 'estimate' as const, detail: 'test' },
    memory: { rssMb: 1, heapUsedMb: 1 },
  };
}
