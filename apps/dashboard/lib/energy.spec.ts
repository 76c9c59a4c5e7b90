import { noEnergyFigures } from '@edge-fleet/shared/api';
import { describe, expect, it } from 'vitest';
import type { EnergyFigures, VariantEnergy } from './api-types';
import { basisLabel, energyRows, variantName } from './energy';

const none = noEnergyFigures('no sensor or estimated power windows in the period');
const some = (over: Partial<EnergyFigures>): EnergyFigures => ({
  ...none,
  basis: 'measured',
  windows: 3,
  sensorWindows: 3,
  devices: 1,
  inferences: 300,
  windowSeconds: 15,
  spanSeconds: 15,
  meanPowerW: 5,
  energyJ: 75,
  energyPerInferenceMj: 250,
  ratePerSecond: 20,
  kwhPerDay: 0.12,
  costPerDay: 0.03,
  reason: null,
  ...over,
});
const variant = (over: Partial<VariantEnergy>): VariantEnergy => ({
  variantId: 'v1',
  precision: 'int8',
  method: 'int8-dynamic',
  status: 'ready',
  modelName: 'trader',
  modelVersion: '1.0.0',
  storageBytes: 2048,
  observed: none,
  simulated: none,
  ...over,
});

describe('energy page rows', () => {
  it('labels every figure with its basis and the windows behind it', () => {
    expect(basisLabel(some({}))).toBe('measured (3 windows from a sensor)');
    expect(basisLabel(some({ basis: 'estimated', sensorWindows: 2, estimateWindows: 1 }))).toBe(
      'estimated (2 sensor, 1 window from the profile estimate)',
    );
    expect(basisLabel(some({ basis: 'simulated', sensorWindows: 0, simulatedWindows: 2 }))).toBe('simulated (2 windows)');
  });

  it('shows dashes and the reason for a variant without data, never a number', () => {
    const [row] = energyRows([variant({})], 'EUR');
    expect(row).toMatchObject({ inferences: '—', meanPower: '—', energy: '—', perInference: '—', perDay: '—', costPerDay: '—' });
    expect(row?.basis).toBe('no data: no sensor or estimated power windows in the period');
  });

  it('shows the traffic forwarded to cloud nodes as measured bytes sent and received, a dash where none was reported', () => {
    const [hybrid] = energyRows([variant({ observed: some({ trafficBytesSent: 4096, trafficBytesReceived: 800 }) })], 'EUR');
    expect(hybrid?.traffic).toBe('4.0 KB ↑ / 800 B ↓');
    const [local] = energyRows([variant({ observed: some({}) })], 'EUR');
    expect(local?.traffic).toBe('—');
  });

  it('puts simulated figures on a row of their own', () => {
    const rows = energyRows([variant({ observed: some({}), simulated: some({ basis: 'simulated', simulatedWindows: 1 }) })], 'EUR');
    expect(rows.map((r) => [r.kind, r.perInference, r.costPerDay, r.storage])).toEqual([
      ['observed', '250 mJ', '0.03 EUR/day', '2.0 KB'],
      ['simulated', '250 mJ', '0.03 EUR/day', '2.0 KB'],
    ]);
  });

  it('keeps a hostile variant id as plain text (React escapes it when rendered)', () => {
    const name = variantName(variant({ variantId: '<img src=x onerror=alert(1)>', status: null, precision: null }));
    expect(name).toBe('unknown precision · unknown variant <img src=x onerror=alert(1)>');
  });
});
