import { GraphBuilder, attr, floatTensor, mulberry32, uniform } from '@edge-fleet/onnx-builder';
import { describe, expect, it } from 'vitest';
import { buildVariants } from '../build-variants.js';
import { optimizedOpTypes } from '../measure/optimized-graph.js';
import { decodeModel } from './model-decoder.js';

/** Conv → BatchNormalization → Relu, twice, and a ConvTranspose → BatchNormalization head, as vision exporters leave them. */
function convBnNet(): Uint8Array {
  const random = mulberry32(21);
  const g = new GraphBuilder('conv_bn');
  let x = g.input('image', 'float32', [1, 3, 16, 16]);
  const bn = (input: string, c: number, name: string): string => {
    const p = (what: string, lo: number, hi: number): string =>
      g.initializer(floatTensor(`${name}.${what}`, [c], uniform(random, c, lo, hi)));
    return g.op('BatchNormalization', [input, p('gamma', 0.5, 1.5), p('beta', -0.2, 0.2), p('mean', -0.3, 0.3), p('var', 0.5, 2)]);
  };
  [
    [3, 8],
    [8, 8],
  ].forEach(([cin = 0, cout = 0], i) => {
    const w = g.initializer(floatTensor(`conv${i}.w`, [cout, cin, 3, 3], uniform(random, cout * cin * 9, -0.4, 0.4)));
    x = g.op('Relu', [bn(g.op('Conv', [x, w], { attributes: [attr.ints('pads', [1, 1, 1, 1])] }), cout, `bn${i}`)]);
  });
  const wt = g.initializer(floatTensor('up.w', [8, 4, 2, 2], uniform(random, 128, -0.4, 0.4)));
  const up = g.op('ConvTranspose', [x, wt], { attributes: [attr.ints('strides', [2, 2])] });
  g.op('Sigmoid', [bn(up, 4, 'bn_up')], { output: 'map' });
  g.output('map', 'float32', [1, 4, 32, 32]);
  return g.build();
}

describe('BatchNormalization folded before the transforms (issue 16: Conv with folded BatchNormalization)', () => {
  it('static QDQ of Conv → BatchNormalization becomes integer convs with no BatchNormalization left, agreeing with FP32', async () => {
    const build = await buildVariants(convBnNet(), [{ name: 'image', dtype: 'float32', shape: [1, 3, 16, 16], min: 0, max: 1 }], {
      calibrationSamples: 32,
      evaluationSamples: 20,
      measure: { warmupRuns: 1, timedRuns: 3 },
    });
    for (const v of build.variants.filter((x) => x.method === 'fp16' || x.method === 'int8-static-qdq')) {
      expect(v.status, `${v.method}: ${v.reason ?? ''}`).toBe('ready');
      expect(v.notes).toContain('3 BatchNormalization node(s) folded into the Conv before them');
    }
    const qdq = build.variants.find((v) => v.method === 'int8-static-qdq');
    if (!qdq?.bytes) throw new Error('no int8 bytes');
    expect(decodeModel(qdq.bytes).graph.nodes.some((n) => n.opType === 'BatchNormalization')).toBe(false);
    const ops = await optimizedOpTypes(qdq.bytes);
    expect(ops.filter((op) => op === 'QLinearConv')).toHaveLength(2);
    expect(qdq.notes.join('\n')).toMatch(
      /ConvTranspose ConvTranspose_\d+: kept in float, onnxruntime's CPU provider has no integer ConvTranspose kernel/,
    );
  });
});
