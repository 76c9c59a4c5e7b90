import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hardwarePreset } from '@edge-fleet/shared';
import { describe, expect, it } from 'vitest';
import { detectPowerMeter, EnergyCounterPowerMeter, estimatePower, EstimatePowerMeter } from './power.meter.js';

const profile = hardwarePreset('edge-npu-trading'); // idle 1.2 W, active 4.5 W

describe('estimatePower', () => {
  it('interpolates between idle and active power by utilisation and says so', () => {
    const r = estimatePower(profile, 'edge-npu-trading', 0.37);
    expect(r.watts).toBeCloseTo(1.2 + 3.3 * 0.37, 3);
    expect(r.source).toBe('estimate');
    expect(r.detail).toBe('estimate from hardware profile edge-npu-trading: idle 1.2 W + active 4.5 W × 37 % busy');
  });

  it('clamps utilisation to 0..1', () => {
    expect(estimatePower(profile, 'p', -1).watts).toBe(1.2);
    expect(estimatePower(profile, 'p', 5).watts).toBe(4.5);
    expect(estimatePower(profile, 'p', Number.NaN).watts).toBe(1.2);
  });
});

describe('energy counter power meter', () => {
  async function counter(value: number, max?: number): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'rapl-'));
    const path = join(dir, 'energy_uj');
    await writeFile(path, `${value}\n`);
    if (max !== undefined) await writeFile(join(dir, 'max_energy_range_uj'), `${max}\n`);
    return path;
  }

  it('is chosen when a counter is readable, else the estimate', async () => {
    const path = await counter(0);
    expect(detectPowerMeter(profile, 'p', ['/nonexistent/energy_uj', path])).toBeInstanceOf(EnergyCounterPowerMeter);
    expect(detectPowerMeter(profile, 'p', ['/nonexistent/energy_uj'])).toBeInstanceOf(EstimatePowerMeter);
  });

  it('computes watts from the energy delta over the window', async () => {
    const path = await counter(1_000_000);
    const meter = detectPowerMeter(profile, 'p', [path]);
    meter.begin();
    await writeFile(path, '21000000'); // 20 J
    expect(meter.end(10, 0.5)).toEqual({ watts: 2, source: 'sensor', detail: path });
  });

  it('handles a counter wrap using max_energy_range_uj', async () => {
    const path = await counter(9_000_000, 10_000_000);
    const meter = detectPowerMeter(profile, 'p', [path]);
    meter.begin();
    await writeFile(path, '1000000'); // wrapped: 2 J in total
    expect(meter.end(1, 0).watts).toBe(2);
  });

  it('falls back to the estimate when the counter disappears', async () => {
    const path = await counter(5);
    const meter = detectPowerMeter(profile, 'p', [path]);
    meter.begin();
    await writeFile(path, 'garbage');
    expect(meter.end(1, 0).source).toBe('estimate');
  });
});
