import type { InputSpec, TensorDtype } from '@edge-fleet/shared';
import { describe, expect, it } from 'vitest';
import { toNumbers } from '../test-support/models.js';
import { createPrng, FeedGenerator, generateInput, valueRange } from './input.generator.js';

const spec = (dtype: TensorDtype, extra: Partial<InputSpec> = {}): InputSpec => ({ name: 'x', dtype, shape: [2, 50], ...extra });

describe('createPrng', () => {
  it('is deterministic per seed and in [0, 1)', () => {
    const a = createPrng(1);
    const b = createPrng(1);
    const xs = Array.from({ length: 1000 }, () => a());
    expect(xs).toEqual(Array.from({ length: 1000 }, () => b()));
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    expect(createPrng(2)()).not.toBe(xs[0]);
  });
});

describe('generateInput', () => {
  const rand = createPrng(9);

  it.each([
    ['float32', Float32Array],
    ['int64', BigInt64Array],
    ['int32', Int32Array],
    ['bool', Uint8Array],
    ['uint8', Uint8Array],
    ['int8', Int8Array],
  ] as const)('fills %s with the right array type and shape', (dtype, ctor) => {
    const t = generateInput(spec(dtype), rand);
    expect(t.data).toBeInstanceOf(ctor);
    expect(t.data.length).toBe(100);
    expect(t.dims).toEqual([2, 50]);
    const [lo, hi] = valueRange(spec(dtype));
    for (const v of t.data) {
      expect(Number(v)).toBeGreaterThanOrEqual(lo);
      expect(Number(v)).toBeLessThanOrEqual(hi);
    }
  });

  it('honours min/max, integers inclusive', () => {
    const t = generateInput(spec('int64', { min: 3, max: 4, shape: [1000] }), rand);
    const values = new Set(Array.from(t.data, Number));
    expect(values).toEqual(new Set([3, 4]));
    const f = generateInput(spec('float32', { min: 10, max: 11 }), rand);
    expect(Array.from(f.data, Number).every((v) => v >= 10 && v <= 11)).toBe(true);
  });

  it('clamps ranges to what the dtype can hold and treats a scalar shape as one element', () => {
    expect(valueRange(spec('uint8', { min: -5, max: 1000 }))).toEqual([0, 255]);
    expect(valueRange(spec('bool'))).toEqual([0, 1]);
    expect(generateInput(spec('int32', { shape: [] }), rand).data.length).toBe(1);
  });
});

describe('FeedGenerator', () => {
  const inputs: InputSpec[] = [
    { name: 'x', dtype: 'float32', shape: [1, 3] },
    { name: 'h_in', dtype: 'float32', shape: [1, 2], stateFrom: 'h_out' },
  ];

  it('starts state inputs at zero and feeds the named output back', () => {
    const gen = new FeedGenerator(inputs, 1);
    const first = gen.next();
    expect(toNumbers(first.get('h_in')?.data)).toEqual([0, 0]);
    const out = { dtype: 'float32' as const, dims: [1, 2], data: new Float32Array([0.5, -0.25]) };
    expect(gen.absorb(new Map([['h_out', out]]))).toEqual([]);
    expect(toNumbers(gen.next().get('h_in')?.data)).toEqual([0.5, -0.25]);
  });

  it('reports a missing state output', () => {
    const gen = new FeedGenerator(inputs, 1);
    expect(gen.absorb(new Map())).toEqual(['h_out']);
  });

  it('draws fresh values for ordinary inputs, reproducibly per seed', () => {
    const a = new FeedGenerator(inputs, 5);
    const b = new FeedGenerator(inputs, 5);
    const a1 = toNumbers(a.next().get('x')?.data);
    expect(toNumbers(b.next().get('x')?.data)).toEqual(a1);
    expect(toNumbers(a.next().get('x')?.data)).not.toEqual(a1);
  });
});
