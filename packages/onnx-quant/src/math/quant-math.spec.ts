import { describe, expect, it } from 'vitest';
import { quantizeAlongAxis, quantizeBias } from './per-axis.js';
import { Q_RANGE, asymmetricParams, quantizePerChannel, quantizeValue, roundHalfEven, symmetricParams } from './quant-math.js';

describe('roundHalfEven', () => {
  it.each([
    [0.5, 0],
    [1.5, 2],
    [2.5, 2],
    [-0.5, 0],
    [-1.5, -2],
    [-2.5, -2],
    [2.4999, 2],
    [-3.6, -4],
  ])('%d → %d', (x, r) => {
    expect(roundHalfEven(x) + 0).toBe(r);
  });
});

describe('scale and zero point', () => {
  it('asymmetric uint8 over [-1, 3]: scale 4/255, zero point round(63.75) = 64', () => {
    const p = asymmetricParams(-1, 3, Q_RANGE.uint8);
    expect(p.scale).toBe(Math.fround(4 / 255));
    expect(p.zeroPoint).toBe(64);
  });

  it('extends the range to include 0, so a Relu output gets zero point qmin', () => {
    expect(asymmetricParams(0.5, 2.55, Q_RANGE.uint8)).toEqual({ scale: Math.fround(0.01), zeroPoint: 0 });
    expect(asymmetricParams(0, 2.55, Q_RANGE.int8).zeroPoint).toBe(-128);
  });

  it('symmetric int8 uses ±127 and zero point 0', () => {
    expect(symmetricParams(254, Q_RANGE.int8Symmetric)).toEqual({ scale: 2, zeroPoint: 0 });
  });

  it('never divides by zero on an all-zero tensor', () => {
    expect(asymmetricParams(0, 0, Q_RANGE.uint8)).toEqual({ scale: 1, zeroPoint: 0 });
    expect(symmetricParams(0, Q_RANGE.int8Symmetric).scale).toBe(1);
  });
});

describe('quantizeValue', () => {
  it('rounds half to even, then adds the zero point', () => {
    expect(quantizeValue(5, { scale: 2, zeroPoint: 10 }, Q_RANGE.uint8)).toBe(12);
    expect(quantizeValue(7, { scale: 2, zeroPoint: 10 }, Q_RANGE.uint8)).toBe(14);
  });

  it('saturates at the type limits', () => {
    expect(quantizeValue(1000, { scale: 1, zeroPoint: 0 }, Q_RANGE.uint8)).toBe(255);
    expect(quantizeValue(-1, { scale: 1, zeroPoint: 0 }, Q_RANGE.uint8)).toBe(0);
    expect(quantizeValue(-1000, { scale: 1, zeroPoint: 0 }, Q_RANGE.int8)).toBe(-128);
    expect(quantizeValue(-1000, { scale: 1, zeroPoint: 0 }, Q_RANGE.int8Symmetric)).toBe(-127);
  });
});

describe('per-channel weights', () => {
  it('gives each channel its own scale', () => {
    const rows = [
      [254, -127],
      [508, 10],
    ];
    const q = quantizePerChannel(2, 2, (c, i) => rows[c]?.[i] ?? 0);
    expect([...q.scales]).toEqual([2, 4]);
    expect([...q.values]).toEqual([127, -64, 127, 2]); // -63.5 → -64 and 2.5 → 2 (ties to even)
  });

  it('quantizes along axis 1 and keeps the tensor layout', () => {
    const w = Float32Array.of(127, 254, -63.5, 127); // [[127, 254], [-63.5, 127]]
    const q = quantizeAlongAxis(w, [2, 2], 1, Q_RANGE.int8Symmetric);
    expect([...q.scales]).toEqual([1, 2]);
    expect([...q.values]).toEqual([127, 127, -64, 64]);
  });

  it('quantizes a conv weight along its output channels (axis 0)', () => {
    const w = Float32Array.from([1, -1, 0.25, 0, 10, 4, -10, 2.5]); // [2, 1, 2, 2]
    const q = quantizeAlongAxis(w, [2, 1, 2, 2], 0, Q_RANGE.int8Symmetric);
    expect([...q.scales]).toEqual([Math.fround(1 / 127), Math.fround(10 / 127)]);
    expect([...q.values]).toEqual([127, -127, 32, 0, 127, 51, -127, 32]);
  });

  it('quantizes the bias to int32 at input_scale × weight_scale', () => {
    const b = quantizeBias(Float32Array.of(1, -2, 0.0625), 0.5, Float32Array.of(0.5, 0.25, 0.25));
    expect([...b.scales]).toEqual([0.25, 0.125, 0.125]);
    expect([...b.values]).toEqual([4, -16, 0]); // 0.5 → 0: ties to even, as ORT rounds
  });
});
