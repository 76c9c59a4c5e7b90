import { describe, expect, it } from 'vitest';
import { createPrng } from '../core/prng.js';
import { exampleInputs } from './example-inputs.js';

const meta = (inputs: { name: string; datatype: 'FP32' | 'INT64' | 'BOOL'; shape: number[] }[]) => ({
  name: 'm',
  platform: 'onnx_onnxv1',
  inputs,
  outputs: [],
});

describe('demo traffic inputs (issue 18)', () => {
  it('builds each input with the metadata shape, dynamic dims as 1, and values of its datatype', () => {
    const inputs = exampleInputs(
      meta([
        { name: 'x', datatype: 'FP32', shape: [-1, 3, 2] },
        { name: 'ids', datatype: 'INT64', shape: [2, -1] },
        { name: 'mask', datatype: 'BOOL', shape: [4] },
      ]),
      createPrng(1),
    );
    expect(inputs.map((i) => [i.name, i.shape, i.datatype, (i.data as unknown[]).length])).toEqual([
      ['x', [1, 3, 2], 'FP32', 6],
      ['ids', [2, 1], 'INT64', 2],
      ['mask', [4], 'BOOL', 4],
    ]);
    expect((inputs[1]?.data as number[]).every((v) => Number.isInteger(v))).toBe(true);
    expect((inputs[2]?.data as unknown[]).every((v) => typeof v === 'boolean')).toBe(true);
  });

  it('refuses, naming the input, a tensor too big to send as JSON', () => {
    expect(() => exampleInputs(meta([{ name: 'image', datatype: 'FP32', shape: [1, 3, 2048, 2048] }]), createPrng(1))).toThrow(
      /input image of m has 12582912 elements/,
    );
  });
});
