/** Per-channel quantization of a tensor along one axis, keeping its memory layout. */
import { quantizePerChannel, roundHalfEven, type QRange } from './quant-math.js';

/** Int8 values in the tensor's own layout and one scale per index of `axis`. */
export interface PerAxisResult {
  values: Int8Array;
  scales: Float32Array;
}

/** Symmetric per-channel quantization along `axis` of a row-major tensor with `dims`. */
export function quantizeAlongAxis(values: Float32Array, dims: readonly number[], axis: number, range: QRange): PerAxisResult {
  const channels = dims[axis] ?? 1;
  const outer = dims.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const index = (c: number, j: number): number => (Math.floor(j / inner) * channels + c) * inner + (j % inner);
  const perChannel = outer * inner;
  const q = quantizePerChannel(channels, perChannel, (c, j) => values[index(c, j)] ?? 0, range);
  const out = new Int8Array(values.length);
  for (let c = 0; c < channels; c += 1) {
    for (let j = 0; j < perChannel; j += 1) out[index(c, j)] = q.values[c * perChannel + j] ?? 0;
  }
  return { values: out, scales: q.scales };
}

/** Int32 bias quantization with per-channel scale `inputScale * weightScale[c]` (what QLinearConv expects). */
export function quantizeBias(
  bias: Float32Array,
  inputScale: number,
  weightScales: Float32Array,
): { values: Int32Array; scales: Float32Array } {
  const scales = weightScales.map((w) => Math.fround(inputScale * w));
  const values = new Int32Array(bias.length);
  bias.forEach((b, c) => {
    const s = scales[c] ?? 1;
    const q = s === 0 ? 0 : roundHalfEven(b / s);
    values[c] = Math.max(-2147483648, Math.min(2147483647, q));
  });
  return { values, scales };
}
