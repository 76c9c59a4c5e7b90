/**
 * IEEE 754 binary16 conversion with round-to-nearest-even, as `numpy.float16` and ORT do. Shared by the
 * variant builder (FP16 weights) and the agent's inference API (FP16 tensors sent as JSON numbers).
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The binary16 bit pattern nearest to `value` (ties to even); overflow gives ±inf, NaN stays NaN. */
export function float32ToFloat16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0] ?? 0;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) return sign | subnormalHalf(mant | 0x800000, 14 - e);
  const half = (e << 10) | (mant >>> 13);
  return sign | roundEven(half, mant & 0x1fff, 0x1000);
}

/** Rounds `truncated` up when the dropped bits `rest` exceed half (`halfway`) or tie with an odd result. */
function roundEven(truncated: number, rest: number, halfway: number): number {
  if (rest > halfway || (rest === halfway && (truncated & 1) === 1)) return truncated + 1;
  return truncated;
}

/** A value with implicit-bit mantissa `m` (24 bits) shifted right by `shift` into a subnormal. */
function subnormalHalf(m: number, shift: number): number {
  if (shift > 24) return 0;
  const truncated = m >>> shift;
  const rest = m & ((1 << shift) - 1);
  return roundEven(truncated, rest, 1 << (shift - 1));
}

/** The number a binary16 bit pattern stands for. */
export function float16BitsToFloat32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >>> 10) & 0x1f;
  const mant = bits & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant === 0 ? sign * Infinity : NaN;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}
