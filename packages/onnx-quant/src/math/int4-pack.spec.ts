import { describe, expect, it } from 'vitest';
import { packNibbles, quantizeInt4Blocks } from './int4-pack.js';

describe('packNibbles', () => {
  it('puts the first value in the low nibble', () => {
    expect([...packNibbles([1, 2, 3])]).toEqual([0x21, 0x03]);
    expect([...packNibbles([0xf, 0x0])]).toEqual([0x0f]);
  });
});

describe('quantizeInt4Blocks', () => {
  it('symmetric: stores q + 8, scale absMax / 7, no zero points', () => {
    const w = new Float32Array(32); // [K=32, N=1]
    w[0] = 7;
    w[1] = -7;
    w[2] = 3.5; // 3.5 → 4 (ties to even) → stored 12
    const q = quantizeInt4Blocks(w, 32, 1, 32, true);
    expect(q.kBlocks).toBe(1);
    expect([...q.scales]).toEqual([1]);
    expect(q.zeroPoints).toBeUndefined();
    expect(q.packed.length).toBe(16); // [N=1, kBlocks=1, blob 16]
    expect(q.packed[0]).toBe(0x1f); // 15 low, 1 high
    expect(q.packed[1]).toBe(0x8c); // 12 low, 8 high
    expect(q.packed[2]).toBe(0x88);
  });

  it('asymmetric: per-block scale and packed zero points, blocks along K per column', () => {
    const k = 32;
    const n = 2;
    const w = new Float32Array(k * n); // [K, N] row-major
    for (let i = 0; i < 16; i += 1) w[i * n] = i; // column 0, block 0: 0..15 → scale 1, zp 0
    for (let i = 16; i < 32; i += 1) w[i * n] = i - 31; // column 0, block 1: -15..0 → scale 1, zp 15
    const q = quantizeInt4Blocks(w, k, n, 16, false);
    expect(q.kBlocks).toBe(2);
    expect([...q.scales]).toEqual([1, 1, 1, 1]); // column 1 is all zero: scale 1
    expect([...(q.zeroPoints ?? [])]).toEqual([0xf0, 0x00]); // [N=2, ceil(2/2)=1]
    expect(q.packed.length).toBe(2 * 2 * 8);
    expect(q.packed[0]).toBe(0x10); // values 0, 1
    expect(q.packed[7]).toBe(0xfe); // values 14, 15
    expect(q.packed[8]).toBe(0x10); // block 1: -15 + 15 = 0, -14 + 15 = 1
  });

  it('zero-pads the last block when K is not a multiple of the block size', () => {
    const w = Float32Array.from({ length: 20 }, () => 7); // [K=20, N=1]
    const q = quantizeInt4Blocks(w, 20, 1, 16, true);
    expect(q.kBlocks).toBe(2);
    expect(q.packed[8]).toBe(0xff); // block 1 starts with K=16..19 = 7 → 15
    expect(q.packed[10]).toBe(0x88); // padding: 0 → 8
  });
});
