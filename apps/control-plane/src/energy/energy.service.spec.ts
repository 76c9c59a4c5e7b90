import { describe, expect, it } from 'vitest';
import type { VariantEnergy } from '@edge-fleet/shared/api';
import { compare, figuresOf } from './energy.service.js';
import type { WindowSums } from './energy.repository.js';

const sums = (over: Partial<WindowSums> = {}): WindowSums => ({
  windows: 2,
  sensorWindows: 2,
  estimateWindows: 0,
  simulatedWindows: 0,
  devices: 1,
  inferences: 100,
  energyJ: 20,
  windowSeconds: 10,
  spanSeconds: 10,
  bytesSent: null,
  bytesReceived: null,
  ...over,
});
const TARIFF = { perKwh: 0.3, currency: 'EUR' };
const variant = (id: string, precision: VariantEnergy['precision'], s: WindowSums | null): VariantEnergy => ({
  variantId: id,
  precision,
  method: null,
  status: 'ready',
  modelName: 'm',
  modelVersion: '1',
  storageBytes: null,
  observed: figuresOf(s, TARIFF, 'observed'),
  simulated: figuresOf(null, TARIFF, 'simulated'),
});

describe('energy figures', () => {
  it('has no cost and says why when no tariff is configured', () => {
    const f = figuresOf(sums(), null, 'observed');
    expect(f.kwhPerDay).toBeCloseTo((2 * 86_400) / 3_600_000, 12);
    expect(f.costPerDay).toBeNull();
    expect(f.reason).toMatch(/ENERGY_TARIFF_PER_KWH/);
  });

  it('has no energy per inference when no inference ran, and says so', () => {
    const f = figuresOf(sums({ inferences: 0 }), TARIFF, 'observed');
    expect(f.energyJ).toBe(20);
    expect(f.energyPerInferenceMj).toBeNull();
    expect(f.reason).toMatch(/no inference ran/);
  });

  it('is measured only when every window came from a sensor', () => {
    expect(figuresOf(sums(), TARIFF, 'observed').basis).toBe('measured');
    expect(figuresOf(sums({ sensorWindows: 1, estimateWindows: 1 }), TARIFF, 'observed').basis).toBe('estimated');
    expect(figuresOf(sums({ sensorWindows: 0, simulatedWindows: 2 }), TARIFF, 'simulated').basis).toBe('simulated');
  });

  it('says a variant uses more when it draws more per inference than the baseline', () => {
    const c = compare(variant('b', 'int8', sums({ energyJ: 40 })), variant('a', 'fp32', sums()), 'observed', TARIFF);
    // 0.2 J more per inference at 10 inferences/s = 2 W = 0.048 kWh/day
    expect(c.savedKwhPerDay).toBeCloseTo(-0.048, 12);
    expect(c.sentence).toMatch(/^INT8 uses 0\.048 kWh\/day \(0\.0144 EUR\/day\) more than FP32 at the same rate of 10 inferences\/s/);
  });

  it('omits the comparison, naming the baseline, when the baseline has no data', () => {
    const c = compare(variant('b', 'int8', sums()), variant('a', 'fp32', null), 'observed', TARIFF);
    expect(c.sentence).toBeNull();
    expect(c.omitted).toMatch(/^FP32 \(baseline\) has no observed energy per inference/);
  });
});
