/**
 * Linear quantization arithmetic, matching onnxruntime's QuantizeLinear:
 * `q = saturate(roundHalfEven(x / scale) + zeroPoint)`, `x ≈ (q - zeroPoint) * scale`.
 */

/** An integer range a quantized type can hold. */
export interface QRange {
  qmin: number;
  qmax: number;
}

/** The ranges of the types this package writes. */
export const Q_RANGE = {
  uint8: { qmin: 0, qmax: 255 },
  int8: { qmin: -128, qmax: 127 },
  /** Symmetric int8 weights use ±127 so that -w quantizes to -q (as ORT's quantizer does). */
  int8Symmetric: { qmin: -127, qmax: 127 },
  uint4: { qmin: 0, qmax: 15 },
  int4: { qmin: -8, qmax: 7 },
} as const satisfies Record<string, QRange>;

/** 7-bit symmetric weights ("reduce_range"), for u8×s8 kernels that saturate int16 pair sums. */
export const REDUCED_RANGE: QRange = { qmin: -63, qmax: 63 };

/** Scale and zero point of one quantized tensor (or one channel/block of it). */
export interface QParams {
  scale: number;
  zeroPoint: number;
}

/** Rounds to the nearest integer, ties to even (C's `nearbyint` in the default mode). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  // Math.round sends ties up; pull exact .5 ties back when that landed on an odd number.
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Quantizes one value; out-of-range results saturate. */
export function quantizeValue(x: number, p: QParams, range: QRange): number {
  const q = roundHalfEven(x / p.scale) + p.zeroPoint;
  return Math.min(range.qmax, Math.max(range.qmin, q));
}

/** Float32 rounding of a scale, since the model stores scales as float32. */
function f32(x: number): number {
  return Math.fround(x);
}

/**
 * Asymmetric parameters covering [min, max] (extended to include 0 so zero padding is exact).
 * A constant-zero range gets scale 1 so nothing divides by zero.
 */
export function asymmetricParams(min: number, max: number, range: QRange): QParams {
  const lo = Math.min(min, 0);
  const hi = Math.max(max, 0);
  if (hi === lo) return { scale: 1, zeroPoint: range.qmin < 0 ? 0 : range.qmin };
  const scale = f32((hi - lo) / (range.qmax - range.qmin));
  const zeroPoint = Math.min(range.qmax, Math.max(range.qmin, roundHalfEven(range.qmin - lo / scale)));
  return { scale, zeroPoint };
}

/** Symmetric parameters (zero point 0) covering [-absMax, absMax] over `qmax` steps. */
export function symmetricParams(absMax: number, range: QRange): QParams {
  if (absMax === 0) return { scale: 1, zeroPoint: 0 };
  return { scale: f32(absMax / range.qmax), zeroPoint: 0 };
}

/** Per-channel symmetric int8 quantization of a 2-D view `[channels, perChannel]` read via `at(c, i)`. */
export function quantizePerChannel(
  channels: number,
  perChannel: number,
  at: (c: number, i: number) => number,
  range: QRange = Q_RANGE.int8Symmetric,
): { scales: Float32Array; values: Int8Array } {
  const scales = new Float32Array(channels);
  const values = new Int8Array(channels * perChannel);
  for (let c = 0; c < channels; c += 1) {
    let absMax = 0;
    for (let i = 0; i < perChannel; i += 1) absMax = Math.max(absMax, Math.abs(at(c, i)));
    const p = symmetricParams(absMax, range);
    scales[c] = p.scale;
    for (let i = 0; i < perChannel; i += 1) values[c * perChannel + i] = quantizeValue(at(c, i), p, range);
  }
  return { scales, values };
}
