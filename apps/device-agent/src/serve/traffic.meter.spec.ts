import { hardwarePreset, type TelemetryWindow } from '@edge-fleet/shared';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../core/logger.js';
import { LatencyWindow } from '../telemetry/latency.window.js';
import { EstimatePowerMeter } from '../telemetry/power.meter.js';
import { TelemetryPublisher } from '../telemetry/telemetry.publisher.js';
import { FakeClock } from '../test-support/fake.clock.js';
import { PROBE_IDLE_MS, probeGate, TrafficMeter } from './traffic.meter.js';

function setup() {
  const clock = new FakeClock();
  const probe = new LatencyWindow();
  const traffic = new TrafficMeter(clock);
  const published: TelemetryWindow[] = [];
  const publisher = new TelemetryPublisher({
    clock,
    logger: silentLogger,
    deviceId: '00000000-0000-4000-8000-000000000002',
    bootId: '00000000-0000-4000-8000-000000000003',
    window: probe,
    power: new EstimatePowerMeter(hardwarePreset('edge-npu-trading'), 'edge-npu-trading'),
    activeModel: () => null,
    publish: (m) => {
      published.push(m);
      return Promise.resolve();
    },
    traffic,
  });
  publisher.setWindowSeconds(1);
  publisher.start();
  return { clock, probe, traffic, published };
}

describe('telemetry from real traffic', () => {
  it('a window with requests reports them (source traffic, queue wait apart), not the probe runs in it', async () => {
    const { clock, probe, traffic, published } = setup();
    probe.record(9, true);
    traffic.record({ ok: true, queueMs: 0.5, inferenceMs: 2 });
    traffic.record({ ok: true, queueMs: 1.5, inferenceMs: 4 });
    traffic.record({ ok: false, queueMs: 3, inferenceMs: null });
    traffic.recordCacheHit(2);
    await clock.advance(1_000);
    expect(published[0]).toMatchObject({
      source: 'traffic',
      inferences: 3,
      errors: 1,
      latencyMs: { p50: 2, max: 4 },
      queueMs: { p50: 1.5, max: 3 },
      cacheHits: 1,
      cacheSavedMs: 2,
    });
  });

  it('a window whose requests were all cache hits is traffic (not probe), with the run time the hits saved', async () => {
    const { clock, probe, traffic, published } = setup();
    probe.record(9, true);
    traffic.recordCacheHit(1.25);
    traffic.recordCacheHit(0.75);
    await clock.advance(1_000);
    expect(published[0]).toMatchObject({ source: 'traffic', inferences: 0, latencyMs: null, cacheHits: 2, cacheSavedMs: 2 });
  });

  it('a window without requests is the probe’s, with no queue figures', async () => {
    const { clock, probe, published } = setup();
    probe.record(9, true);
    await clock.advance(1_000);
    expect(published[0]).toMatchObject({ source: 'probe', inferences: 1, latencyMs: { p50: 9 } });
    expect(published[0]?.queueMs).toBeUndefined();
    expect(published[0]?.cacheSavedMs).toBeUndefined();
  });

  it('the idle probe stands aside while requests come and resumes PROBE_IDLE_MS after the last', async () => {
    const clock = new FakeClock();
    const meter = new TrafficMeter(clock);
    const gate = probeGate('idle', meter);
    expect(gate()).toBe(true);
    meter.record({ ok: true, queueMs: 0, inferenceMs: 1 });
    expect(gate()).toBe(false);
    await clock.advance(PROBE_IDLE_MS - 1);
    expect(gate()).toBe(false);
    await clock.advance(1);
    expect(gate()).toBe(true);
    expect(probeGate('always', meter)()).toBe(true);
    expect(probeGate('off', meter)()).toBe(false);
  });
});
