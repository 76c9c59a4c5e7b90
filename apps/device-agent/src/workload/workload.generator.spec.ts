import { describe, expect, it } from 'vitest';
import { silentLogger } from '../core/logger.js';
import type { InferenceEngine, RunResult } from '../engine/inference.engine.js';
import { FakeClock } from '../test-support/fake.clock.js';
import { WorkloadGenerator } from './workload.generator.js';

/** An engine whose runs take `costMs` of fake time; tracks concurrency. */
class TimedEngine implements InferenceEngine {
  runs = 0;
  inFlight = 0;
  maxInFlight = 0;
  constructor(
    private readonly clock: FakeClock,
    private readonly costMs: number,
    private readonly result: Partial<RunResult> = {},
  ) {}
  load(): Promise<void> {
    return Promise.resolve();
  }
  async run(): Promise<RunResult> {
    this.runs++;
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    await Promise.resolve();
    this.clock.tick(this.costMs);
    this.inFlight--;
    return { ok: true, latencyMs: this.costMs, ...this.result };
  }
  dispose(): Promise<void> {
    return Promise.resolve();
  }
}

function setup(rateHz: number) {
  const clock = new FakeClock();
  const records: Array<[number | null, boolean]> = [];
  const gen = new WorkloadGenerator(clock, { record: (l, ok) => records.push([l, ok]) }, silentLogger, rateHz);
  return { clock, records, gen };
}

describe('WorkloadGenerator', () => {
  it('runs at the target rate', async () => {
    const { clock, records, gen } = setup(10);
    const engine = new TimedEngine(clock, 1);
    gen.setEngine(engine);
    gen.start();
    await clock.advance(1_000);
    await gen.stop();
    expect(records.length).toBeGreaterThanOrEqual(10);
    expect(records.length).toBeLessThanOrEqual(11);
    expect(engine.maxInFlight).toBe(1);
  });

  it('the probe does not run while its gate is closed (applications send traffic) and resumes when it opens', async () => {
    const { clock, records, gen } = setup(10);
    let open = false;
    gen.setGate(() => open);
    gen.setEngine(new TimedEngine(clock, 1));
    gen.start();
    await clock.advance(1_000);
    expect(records).toEqual([]);
    open = true;
    await clock.advance(1_000);
    await gen.stop();
    expect(records.length).toBeGreaterThanOrEqual(9);
  });

  it('idles without an engine and starts when one is set', async () => {
    const { clock, records, gen } = setup(10);
    gen.start();
    await clock.advance(500);
    expect(records).toEqual([]);
    gen.setEngine(new TimedEngine(clock, 1));
    await clock.advance(500);
    await gen.stop();
    expect(records.length).toBeGreaterThanOrEqual(5);
  });

  it('counts missed slots instead of piling up when runs are slower than the rate', async () => {
    const { clock, records, gen } = setup(100); // 10 ms slots, 35 ms runs
    const engine = new TimedEngine(clock, 35);
    gen.setEngine(engine);
    gen.start();
    await clock.advance(1_000);
    await gen.stop();
    expect(engine.maxInFlight).toBe(1);
    expect(records.length).toBeLessThanOrEqual(30);
    expect(gen.behind).toBeGreaterThan(50);
  });

  it('low-power mode: with a duty cycle of 0.25 the probe runs a quarter of each period, then at full rate again when lifted', async () => {
    const { clock, records, gen } = setup(10);
    gen.setEngine(new TimedEngine(clock, 1));
    gen.setDutyCycle({ duty: 0.25, periodMs: 4_000 });
    gen.start();
    await clock.advance(8_000);
    // 2 periods × 1 s of work at 10 Hz
    expect(records.length).toBeGreaterThanOrEqual(18);
    expect(records.length).toBeLessThanOrEqual(22);
    expect(gen.behind).toBe(0);
    gen.setDutyCycle(null);
    const before = records.length;
    await clock.advance(2_000);
    await gen.stop();
    expect(records.length - before).toBeGreaterThanOrEqual(19);
  });

  it('records failed runs as errors, and a throwing engine too', async () => {
    const { clock, records, gen } = setup(10);
    gen.setEngine(new TimedEngine(clock, 1, { ok: false, error: 'non-finite output' }));
    gen.start();
    await clock.advance(200);
    const throwing: InferenceEngine = {
      load: () => Promise.resolve(),
      run: () => Promise.reject(new Error('boom')),
      dispose: () => Promise.resolve(),
    };
    gen.setEngine(throwing);
    await clock.advance(200);
    await gen.stop();
    expect(records.some(([l, ok]) => l === 1 && !ok)).toBe(true);
    expect(records.some(([l, ok]) => l === null && !ok)).toBe(true);
    expect(records.every(([, ok]) => !ok)).toBe(true);
  });
});
