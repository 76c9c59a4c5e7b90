import type { InputSpec } from '@edge-fleet/shared/schemas';
import { describe, expect, it } from 'vitest';
import { OnnxQuantError } from '../errors.js';
import { CALIBRATION_SEED, EVALUATION_SEED, generateInputs, parseSuppliedInputs } from './input-data.js';

const specs: InputSpec[] = [
  { name: 'x', dtype: 'float32', shape: [1, 3], min: 0, max: 1 },
  { name: 'ids', dtype: 'int64', shape: [1, 2], min: 0, max: 4 },
];

describe('generated inputs', () => {
  it('are reproducible for a seed, in range, and differ between calibration and evaluation seeds', () => {
    const a = generateInputs(specs, 3, CALIBRATION_SEED);
    const b = generateInputs(specs, 3, CALIBRATION_SEED);
    const c = generateInputs(specs, 3, EVALUATION_SEED);
    expect(a).toEqual(b);
    expect(a.samples[0]?.x).not.toEqual(c.samples[0]?.x);
    expect(a).toMatchObject({ source: 'generated', seed: CALIBRATION_SEED });
    for (const s of a.samples) {
      expect([...(s.x ?? [])].every((v) => typeof v === 'number' && v >= 0 && v < 1)).toBe(true);
      expect([...(s.ids ?? [])].every((v) => typeof v === 'bigint' && v >= 0n && v <= 4n)).toBe(true);
    }
  });
});

describe('supplied inputs', () => {
  it('accepts { name: number[][] } and types the arrays per dtype', () => {
    const set = parseSuppliedInputs({ x: [[0, 0.5, 1]], ids: [[1, 2]] }, specs);
    expect(set.source).toBe('supplied');
    expect(set.samples[0]?.x).toBeInstanceOf(Float32Array);
    expect(set.samples[0]?.ids).toEqual(BigInt64Array.of(1n, 2n));
  });

  it.each([
    [{ x: [[0, 1]], ids: [[1, 2]] }, /input "x": sample 0 has 2 values, shape \[1, 3\] needs 3/],
    [{ x: [[0, 1, 2]] }, /input "ids": no samples/],
    [{ x: [[0, 1, 2]], ids: [[1, 2.5]] }, /input "ids": sample 0 value 1 is not a finite integer/],
    [{ x: [[0, 1, 2]], ids: [[1, 2]], extra: [[1]] }, /unknown input\(s\): extra/],
    [
      {
        x: [
          [0, 1, 2],
          [0, 1, 2],
        ],
        ids: [[1, 2]],
      },
      /same number of samples/,
    ],
    [[1, 2], /must be a JSON object/],
  ])('rejects %j', (data, message) => {
    expect(() => parseSuppliedInputs(data, specs)).toThrow(message);
    try {
      parseSuppliedInputs(data, specs);
    } catch (err) {
      expect(err).toBeInstanceOf(OnnxQuantError);
      expect((err as OnnxQuantError).code).toBe('invalid_calibration_data');
    }
  });
});
