/**
 * 4-bit block quantization in com.microsoft MatMulNBits' layout: weights `[K, N]` quantized
 * per column in blocks of `blockSize` along K; `B` is uint8 `[N, kBlocks, blockSize / 2]` with
 * element 2j in the low nibble and 2j+1 in the high nibble of byte j; scales `[N, kBlocks]`;
 * zero points packed two per byte the same way, `[N, ceil(kBlocks / 2)]` (onnxruntime
 * docs/ContribOperators.md#com.microsoft.MatMulNBits).
 */
import { Q_RANGE, asymmetricParams, quantizeValue, symmetricParams, type QParams } from './quant-math.js';

/** Packed MatMulNBits operands. */
export interface Int4Blocks {
  packed: Uint8Array;
  scales: Float32Array;
  /** Absent for symmetric quantization (the op's default zero point 8 applies). */
  zeroPoints?: Uint8Array;
  kBlocks: number;
}

/** Packs 4-bit values (0..15) two per byte, low nibble first. */
export function packNibbles(values: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(Math.ceil(values.length / 2));
  for (let i = 0; i < values.length; i += 1) {
    const v = (values[i] ?? 0) & 0x0f;
    out[i >> 1] = (out[i >> 1] ?? 0) | (i % 2 === 0 ? v : v << 4);
  }
  return out;
}

/** Block parameters: symmetric stores q + 8 with implicit zero point 8; asymmetric uses 0..15. */
function blockParams(block: Float32Array, symmetric: boolean): QParams {
  if (symmetric) {
    const absMax = block.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const p = symmetricParams(absMax, Q_RANGE.int4);
    return { scale: p.scale, zeroPoint: 8 };
  }
  let min = 0;
  let max = 0;
  for (const v of block) {
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  return asymmetricParams(min, max, Q_RANGE.uint4);
}

/** Quantizes `weight` (`[K, N]` row-major) into MatMulNBits blocks. */
export function quantizeInt4Blocks(weight: Float32Array, k: number, n: number, blockSize: number, symmetric: boolean): Int4Blocks {
  const kBlocks = Math.ceil(k / blockSize);
  const scales = new Float32Array(n * kBlocks);
  const zeros: number[] = [];
  const nibbles = new Uint8Array(n * kBlocks * blockSize);
  const block = new Float32Array(blockSize);
  for (let col = 0; col < n; col += 1) {
    for (let b = 0; b < kBlocks; b += 1) {
      block.fill(0); // K not divisible by the block size: the tail is padded with zeros
      for (let i = 0; i < blockSize && b * blockSize + i < k; i += 1) block[i] = weight[(b * blockSize + i) * n + col] ?? 0;
      const p = blockParams(block, symmetric);
      scales[col * kBlocks + b] = p.scale;
      zeros.push(p.zeroPoint);
      const base = (col * kBlocks + b) * blockSize;
      block.forEach((v, i) => (nibbles[base + i] = quantizeValue(v, p, Q_RANGE.uint4)));
    }
  }
  const zeroPoints = symmetric ? undefined : packZeroPoints(zeros, n, kBlocks);
  return { packed: packNibbles(nibbles), scales, kBlocks, ...(zeroPoints ? { zeroPoints } : {}) };
}

/** Zero points per column, each row padded to whole bytes. */
function packZeroPoints(zeros: readonly number[], n: number, kBlocks: number): Uint8Array {
  const perRow = Math.ceil(kBlocks / 2);
  const out = new Uint8Array(n * perRow);
  for (let col = 0; col < n; col += 1) out.set(packNibbles(zeros.slice(col * kBlocks, (col + 1) * kBlocks)), col * perRow);
  return out;
}
