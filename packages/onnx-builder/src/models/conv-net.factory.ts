import { GraphBuilder, attr } from '../graph-builder.js';
import { floatTensor } from '../onnx-types.js';
import { glorotUniform, mulberry32, uniform, type Random } from '../prng.js';
import { checkSeed, type GeneratedModel } from './generated-model.js';

/** Options of `buildConvNet`. */
export interface ConvNetOptions {
  seed?: number;
}

/** A 3x3, stride-1, same-padding convolution followed by Relu. */
function convRelu(g: GraphBuilder, random: Random, x: string, cin: number, cout: number, prefix: string): string {
  const fanIn = cin * 9;
  const fanOut = cout * 9;
  const w = g.initializer(floatTensor(`${prefix}.weight`, [cout, cin, 3, 3], glorotUniform(random, fanIn, fanOut, cout * cin * 9)));
  const b = g.initializer(floatTensor(`${prefix}.bias`, [cout], uniform(random, cout, -0.1, 0.1)));
  const y = g.op('Conv', [x, w, b], {
    attributes: [attr.ints('kernel_shape', [3, 3]), attr.ints('pads', [1, 1, 1, 1]), attr.ints('strides', [1, 1])],
  });
  return g.op('Relu', [y]);
}

/**
 * A small image classifier: `image` float32 [1, 3, 32, 32] → Conv(3→8) → Relu → MaxPool 2x2 →
 * Conv(8→16) → Relu → GlobalAveragePool → Flatten → Gemm(16→10) → Softmax →
 * `probabilities` float32 [1, 10].
 */
export function buildConvNet(options: ConvNetOptions = {}): GeneratedModel {
  const seed = checkSeed(options.seed ?? 1);
  const random = mulberry32(seed);
  const g = new GraphBuilder('conv_net');
  const image = g.input('image', 'float32', [1, 3, 32, 32]);
  const c1 = convRelu(g, random, image, 3, 8, 'conv1');
  const pooled = g.op('MaxPool', [c1], {
    attributes: [attr.ints('kernel_shape', [2, 2]), attr.ints('strides', [2, 2])],
  });
  const c2 = convRelu(g, random, pooled, 8, 16, 'conv2');
  const flat = g.op('Flatten', [g.op('GlobalAveragePool', [c2])], { attributes: [attr.int('axis', 1)] });
  const w = g.initializer(floatTensor('fc.weight', [16, 10], glorotUniform(random, 16, 10)));
  const b = g.initializer(floatTensor('fc.bias', [10], uniform(random, 10, -0.1, 0.1)));
  const logits = g.op('Gemm', [flat, w, b]);
  g.op('Softmax', [logits], { attributes: [attr.int('axis', -1)], output: 'probabilities' });
  g.output('probabilities', 'float32', [1, 10]);
  const description = `ConvNet 3x32x32 → conv8 → pool → conv16 → GAP → 10 classes (seed ${seed})`;
  return {
    bytes: g.build({ docString: description }),
    inputs: [{ name: 'image', dtype: 'float32', shape: [1, 3, 32, 32], min: 0, max: 1 }],
    description,
  };
}
