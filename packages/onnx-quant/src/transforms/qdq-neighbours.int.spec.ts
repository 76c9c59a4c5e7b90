import { GraphBuilder, attr, floatTensor, mulberry32, uniform } from '@edge-fleet/onnx-builder';
import { describe, expect, it } from 'vitest';
import { buildVariants } from '../build-variants.js';
import { optimizedOpTypes } from '../measure/optimized-graph.js';

/** Conv → Relu, Conv, residual Add, LeakyRelu, MaxPool, Resize ×2, Concat with the skip, GlobalAveragePool-gated Mul-free head Conv. */
function fpnLikeNet(): Uint8Array {
  const random = mulberry32(16);
  const g = new GraphBuilder('fpn_like');
  const x = g.input('image', 'float32', [1, 3, 16, 16]);
  const conv = (input: string, cin: number, cout: number, name: string): string => {
    const w = g.initializer(floatTensor(`${name}.w`, [cout, cin, 3, 3], uniform(random, cout * cin * 9, -0.4, 0.4)));
    const b = g.initializer(floatTensor(`${name}.b`, [cout], uniform(random, cout, -0.1, 0.1)));
    return g.op('Conv', [input, w, b], { attributes: [attr.ints('pads', [1, 1, 1, 1])] });
  };
  const a = g.op('Relu', [conv(x, 3, 8, 'c0')]);
  const sum = g.op('Add', [a, conv(a, 8, 8, 'c1')]);
  const leaky = g.op('LeakyRelu', [sum], { attributes: [attr.float('alpha', 0.1)] });
  const pooled = g.op('MaxPool', [leaky], { attributes: [attr.ints('kernel_shape', [2, 2]), attr.ints('strides', [2, 2])] });
  const scales = g.initializer(floatTensor('up.scales', [4], [1, 1, 2, 2]));
  const up = g.op('Resize', [pooled, '', scales], { attributes: [attr.string('mode', 'nearest')] });
  const cat = g.op('Concat', [up, a], { attributes: [attr.int('axis', 1)] });
  const avg = g.op('AveragePool', [cat], { attributes: [attr.ints('kernel_shape', [3, 3]), attr.ints('pads', [1, 1, 1, 1])] });
  g.op('Sigmoid', [conv(avg, 16, 4, 'head')], { output: 'map' });
  g.output('map', 'float32', [1, 4, 16, 16]);
  return g.build();
}

describe('static QDQ around the ops onnxruntime fuses (issue 16: activations between QDQ pairs, Resize)', () => {
  it('Add, LeakyRelu, MaxPool, Resize, Concat and AveragePool between quantized convs stay integer in the optimized graph', async () => {
    const build = await buildVariants(fpnLikeNet(), [{ name: 'image', dtype: 'float32', shape: [1, 3, 16, 16], min: 0, max: 1 }], {
      methods: ['int8-static-qdq'],
      calibrationSamples: 32,
      evaluationSamples: 16,
      measure: { warmupRuns: 1, timedRuns: 3 },
    });
    const [qdq] = build.variants;
    expect(qdq?.status, qdq?.reason).toBe('ready');
    if (!qdq?.bytes) throw new Error('no int8 bytes');
    const ops = await optimizedOpTypes(qdq.bytes);
    for (const op of ['QLinearAdd', 'QLinearLeakyRelu', 'QLinearConcat', 'QLinearAveragePool']) expect(ops, op).toContain(op);
    for (const op of ['Add', 'LeakyRelu', 'Concat', 'AveragePool']) expect(ops, op).not.toContain(op);
    // Only the image is quantized and only the head's output dequantized: MaxPool and Resize run on the 8-bit tensor.
    expect(ops.filter((op) => op === 'QuantizeLinear')).toHaveLength(1);
    expect(ops.filter((op) => op === 'DequantizeLinear')).toHaveLength(1);
    expect(qdq.notes.join('\n')).toMatch(/^6 tensor\(s\) after/m);
  });
});
