import { describe, expect, it } from 'vitest';
import { float16BitsToFloat32, float32ToFloat16Bits, toFloat16Raw } from './float16.js';

describe('float32ToFloat16Bits', () => {
  it.each([
    [1, 0x3c00],
    [-2, 0xc000],
    [0.5, 0x3800],
    [65504, 0x7bff], // largest finite half
    [65519, 0x7bff], // below the rounding midpoint to infinity
    [65520, 0x7c00], // the midpoint rounds to even: infinity
    [1e6, 0x7c00],
    [-1e6, 0xfc00],
    [Infinity, 0x7c00],
    [-Infinity, 0xfc00],
    [0, 0x0000],
    [-0, 0x8000],
    [2 ** -14, 0x0400], // smallest normal
    [2 ** -24, 0x0001], // smallest subnormal
    [2 ** -25, 0x0000], // exactly half of it: ties to even (0)
    [3 * 2 ** -25, 0x0002], // 1.5 ulp: ties to even (2)
    [2 ** -14 - 2 ** -24, 0x03ff], // largest subnormal
    [1e-10, 0x0000],
    [1 + 2 ** -11, 0x3c00], // tie between 0x3c00 and 0x3c01: even wins
    [1 + 3 * 2 ** -11, 0x3c02], // tie between 0x3c01 and 0x3c02: even wins
    [1 + 2 ** -11 + 2 ** -20, 0x3c01], // just above the tie
  ])('%d → %s', (value, bits) => {
    expect(float32ToFloat16Bits(value)).toBe(bits);
  });

  it('keeps NaN a (quiet) NaN', () => {
    const bits = float32ToFloat16Bits(Number.NaN);
    expect(bits & 0x7c00).toBe(0x7c00);
    expect(bits & 0x03ff).not.toBe(0);
    expect(float16BitsToFloat32(bits)).toBeNaN();
  });

  it('round-trips every finite half value', () => {
    for (let bits = 0; bits < 0x10000; bits += 1) {
      if ((bits & 0x7c00) === 0x7c00) continue;
      const v = float16BitsToFloat32(bits);
      expect(float32ToFloat16Bits(v)).toBe(Object.is(v, -0) ? 0x8000 : bits);
    }
  });

  it('writes little-endian raw data', () => {
    expect([...toFloat16Raw(Float32Array.of(1, 65504))]).toEqual([0x00, 0x3c, 0xff, 0x7b]);
  });
});
