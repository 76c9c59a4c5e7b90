import { type DesiredModel, hardwarePreset, type TelemetryWindow, TelemetryWindowSchema } from '@edge-fleet/shared';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../core/logger.js';
import { FakeClock } from '../test-support/fake.clock.js';
import { LatencyWindow } from './latency.window.js';
import { EstimatePowerMeter } from './power.meter.js';
import { TelemetryPublisher } from './telemetry.publisher.js';

const DEVICE = '00000000-0000-4000-8000-000000000002';
const BOOT = '00000000-0000-4000-8000-000000000003';

function setup(model: DesiredModel | null = null) {
  const clock = new FakeClock();
  const window = new LatencyWindow();
  const published: TelemetryWindow[] = [];
  const publisher = new TelemetryPublisher({
    clock,
    logger: silentLogger,
    deviceId: DEVICE,
    bootId: BOOT,
    window,
    power: new EstimatePowerMeter(hardwarePreset('edge-npu-trading'), 'edge-npu-trading'),
    activeModel: () => model,
    publish: (m) => {
      published.push(m);
      return Promise.resolve();
    },
    memory: () => ({ rss: 100 * 1024 * 1024, heapUsed: 20 * 1024 * 1024 }),
  });
  return { clock, window, published, publisher };
}

describe('TelemetryPublisher', () => {
  it('publishes one schema-valid window per period with increasing seq and contiguous bounds', async () => {
    const { clock, published, publisher } = setup();
    publisher.setWindowSeconds(5);
    publisher.start();
    await clock.advance(15_000);
    expect(published.map((w) => w.seq)).toEqual([0, 1, 2]);
    for (const w of published) expect(TelemetryWindowSchema.safeParse(w).success).toBe(true);
    expect(published[1]?.windowStart).toBe(published[0]?.windowEnd);
    expect(Date.parse(published[0]?.windowEnd ?? '') - Date.parse(published[0]?.windowStart ?? '')).toBe(5_000);
  });

  it('reports nulls and idle power while nothing runs', async () => {
    const { clock, published, publisher } = setup();
    publisher.setWindowSeconds(1);
    publisher.start();
    await clock.advance(1_000);
    expect(published[0]).toMatchObject({
      modelVersionId: null,
      variantId: null,
      precision: null,
      inferences: 0,
      errors: 0,
      latencyMs: null,
      power: { watts: 1.2, source: 'estimate' },
      memory: { rssMb: 100, heapUsedMb: 20 },
    });
  });

  it('derives latency, utilisation and power from recorded runs', async () => {
    const model = { modelVersionId: 'mv', variantId: 'v', precision: 'int8' } as DesiredModel;
    const { clock, window, published, publisher } = setup(model);
    publisher.setWindowSeconds(10);
    publisher.start();
    for (let i = 1; i <= 100; i++) window.record(i * 10, i !== 100); // 50.5 s of inference time in total
    await clock.advance(10_000);
    const w = published[0];
    expect(w).toMatchObject({ modelVersionId: 'mv', variantId: 'v', precision: 'int8', inferences: 100, errors: 1 });
    expect(w?.latencyMs).toEqual({ p50: 500, p95: 950, p99: 990, max: 1000 });
    // 50.5 s of busy time in a 10 s window clamps to 100 % busy.
    expect(w?.power.watts).toBe(4.5);
  });

  it('flushes a partial window on stop and stops the timer', async () => {
    const { clock, published, publisher } = setup();
    publisher.setWindowSeconds(10);
    publisher.start();
    await clock.advance(3_000);
    await publisher.stop(true);
    expect(published).toHaveLength(1);
    await clock.advance(30_000);
    expect(published).toHaveLength(1);
    expect(clock.pending).toBe(0);
  });
});
