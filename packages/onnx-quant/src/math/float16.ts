import { float32ToFloat16Bits } from '@edge-fleet/shared';

export { float16BitsToFloat32, float32ToFloat16Bits } from '@edge-fleet/shared';

/** Converts float32 values into little-endian binary16 `raw_data`. */
export function toFloat16Raw(values: Float32Array): Uint8Array {
  const out = new Uint8Array(values.length * 2);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i += 1) view.setUint16(i * 2, float32ToFloat16Bits(values[i] ?? 0), true);
  return out;
}
