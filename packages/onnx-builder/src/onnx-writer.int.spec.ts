import { InferenceSession, Tensor } from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { GraphBuilder, attr } from './graph-builder.js';
import { floatTensor, int64Tensor } from './onnx-types.js';

const X = [1, 2, 3, 4, 5, 6]; // [2, 3]
const W = [1, -1, 0.5, 2, 0, -2, -3, 1, 1, 0.25, 0.5, 4]; // [4, 3]
const B = [0.5, -1, 0, 2];

/** A probe graph touching every attribute kind and both raw_data element types. */
function probeModel(): Uint8Array {
  const g = new GraphBuilder('probe');
  const x = g.input('x', 'float32', ['rows', 3]);
  const two = g.op('Constant', [], { attributes: [attr.tensor('value', floatTensor('', [], [2]))] });
  const w = g.initializer(floatTensor('w', [4, 3], W));
  const b = g.initializer(floatTensor('b', [4], B));
  const gemmAttrs = [attr.float('alpha', 0.5), attr.float('beta', 2), attr.int('transB', 1)];
  g.op('Gemm', [g.op('Mul', [x, two]), w, b], { attributes: gemmAttrs, output: 'gemm' });
  const pads = g.initializer(int64Tensor('pads', [4], [0, 1, 0, 1]));
  g.op('Pad', [x, pads], { attributes: [attr.string('mode', 'reflect')], output: 'padded' });
  const shape = g.initializer(int64Tensor('shape', [1], [-1n]));
  g.op('Reshape', [x, shape], { output: 'flat' });
  g.op('Transpose', [x], { attributes: [attr.ints('perm', [1, 0])], output: 'transposed' });
  g.op('ArgMax', [x], { attributes: [attr.int('axis', 1), attr.int('keepdims', 0)], output: 'argmax' });
  g.output('gemm', 'float32', ['rows', 4]);
  g.output('padded', 'float32', ['rows', 5]);
  g.output('flat', 'float32', ['n']);
  g.output('transposed', 'float32', [3, 'rows']);
  g.output('argmax', 'int64', ['rows']);
  return g.build();
}

/** x · Wᵀ + 2b, which is what 0.5 · (2x) · Wᵀ + 2 · b must equal. */
function expectedGemm(): number[] {
  const out: number[] = [];
  for (let r = 0; r < 2; r += 1) {
    for (let j = 0; j < 4; j += 1) {
      let acc = 2 * (B[j] ?? 0);
      for (let k = 0; k < 3; k += 1) acc += (X[r * 3 + k] ?? 0) * (W[j * 3 + k] ?? 0);
      out.push(acc);
    }
  }
  return out;
}

describe('encoded graphs compute the right values in onnxruntime-node', () => {
  it('honours FLOAT, INT, INTS, STRING and TENSOR attributes and int64 raw_data', async () => {
    const session = await InferenceSession.create(Buffer.from(probeModel()));
    try {
      const out = await session.run({ x: new Tensor('float32', Float32Array.from(X), [2, 3]) });
      expect(out.gemm?.dims).toEqual([2, 4]);
      Array.from(out.gemm?.data as Float32Array).forEach((v, i) => expect(v).toBeCloseTo(expectedGemm()[i] ?? NaN, 5));
      expect(out.padded?.dims).toEqual([2, 5]);
      expect(Array.from(out.padded?.data as Float32Array)).toEqual([2, 1, 2, 3, 2, 5, 4, 5, 6, 5]);
      expect(out.flat?.dims).toEqual([6]);
      expect(Array.from(out.flat?.data as Float32Array)).toEqual(X);
      expect(Array.from(out.transposed?.data as Float32Array)).toEqual([1, 4, 2, 5, 3, 6]);
      expect(Array.from(out.argmax?.data as BigInt64Array)).toEqual([2n, 2n]);
    } finally {
      await session.release();
    }
  });

  it('accepts the com.microsoft opset import alongside the default one', async () => {
    const g = new GraphBuilder('ms');
    g.op('Relu', [g.input('x', 'float32', [2])], { output: 'y' });
    g.output('y', 'float32', [2]);
    const bytes = g.build({
      opsets: [
        { domain: '', version: 17 },
        { domain: 'com.microsoft', version: 1 },
      ],
      irVersion: 9,
    });
    const session = await InferenceSession.create(Buffer.from(bytes));
    try {
      const out = await session.run({ x: new Tensor('float32', Float32Array.from([-1, 3]), [2]) });
      expect(Array.from(out.y?.data as Float32Array)).toEqual([0, 3]);
    } finally {
      await session.release();
    }
  });
});
