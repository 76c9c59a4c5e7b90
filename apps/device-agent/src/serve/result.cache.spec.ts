import { describe, expect, it } from 'vitest';
import type { ServedTensor } from '../engine/served-tensor.js';
import { FakeClock } from '../test-support/fake.clock.js';
import { ResultCache } from './result.cache.js';

const t = (values: number[]): ServedTensor => ({ type: 'float32', dims: [1, values.length], data: Float32Array.from(values) });
const SHA_A = 'a'.repeat(64);
const SHA_B = 'b'.repeat(64);

describe('ResultCache', () => {
  it('the key changes with the model sha256, an input byte, the dims or the type', () => {
    const k = ResultCache.key(SHA_A, { x: t([1, 2, 3]) });
    expect(ResultCache.key(SHA_A, { x: t([1, 2, 3]) })).toBe(k);
    expect(ResultCache.key(SHA_B, { x: t([1, 2, 3]) })).not.toBe(k);
    expect(ResultCache.key(SHA_A, { x: t([1, 2, 4]) })).not.toBe(k);
    expect(ResultCache.key(SHA_A, { x: { ...t([1, 2, 3]), dims: [3, 1] } })).not.toBe(k);
    expect(
      ResultCache.key(SHA_A, { x: { type: 'int32', dims: [1, 3], data: new Int32Array(new Float32Array([1, 2, 3]).buffer) } }),
    ).not.toBe(k);
  });

  it('keeps the most recently used entries up to its size, and serves none older than the TTL', async () => {
    const clock = new FakeClock();
    const cache = new ResultCache(2, 1_000, clock);
    cache.set('a', { y: t([1]) }, 0.5);
    cache.set('b', { y: t([2]) }, 0.5);
    expect(cache.get('a')).not.toBeNull(); // a is now the most recent
    cache.set('c', { y: t([3]) }, 0.5);
    expect(cache.get('b')).toBeNull();
    expect(cache.get('a')).not.toBeNull();
    expect(cache.size).toBe(2);
    await clock.advance(1_001);
    expect(cache.get('c')).toBeNull();
  });

  it('a hit returns the measured run time of the run whose answer it reuses (what the hit saved)', () => {
    const cache = new ResultCache(4, 1_000, new FakeClock());
    cache.set('a', { y: t([1]) }, 3.25);
    expect(cache.get('a')).toMatchObject({ inferenceMs: 3.25 });
  });
});
