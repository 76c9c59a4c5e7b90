/** Fixture models for tests and the benchmark: onnx-builder's catalog plus two heavier ones. */
import {
  GraphBuilder,
  attr,
  buildConvNet,
  buildMlpClassifier,
  buildMultiInput,
  buildRecurrent,
  floatTensor,
  glorotUniform,
  mulberry32,
  uniform,
  type GeneratedModel,
  type Random,
} from '@edge-fleet/onnx-builder';

function convBlock(g: GraphBuilder, random: Random, x: string, [cin, cout]: [number, number], name: string): string {
  const w = g.initializer(floatTensor(`${name}.weight`, [cout, cin, 3, 3], glorotUniform(random, cin * 9, cout * 9, cout * cin * 9)));
  const b = g.initializer(floatTensor(`${name}.bias`, [cout], uniform(random, cout, -0.1, 0.1)));
  const conv = g.op('Conv', [x, w, b], {
    attributes: [attr.ints('kernel_shape', [3, 3]), attr.ints('pads', [1, 1, 1, 1])],
  });
  return g.op('Relu', [conv]);
}

/** A wider conv net: [1, 3, 64, 64] → conv32 → pool → conv64 → pool → conv64 → GAP → 10 classes. */
export function buildWideConvNet(seed = 3): GeneratedModel {
  const random = mulberry32(seed);
  const g = new GraphBuilder('wide_conv_net');
  const image = g.input('image', 'float32', [1, 3, 64, 64]);
  const pool = (x: string): string =>
    g.op('MaxPool', [x], { attributes: [attr.ints('kernel_shape', [2, 2]), attr.ints('strides', [2, 2])] });
  const c1 = pool(convBlock(g, random, image, [3, 32], 'conv1'));
  const c2 = pool(convBlock(g, random, c1, [32, 64], 'conv2'));
  const c3 = convBlock(g, random, c2, [64, 64], 'conv3');
  const flat = g.op('Flatten', [g.op('GlobalAveragePool', [c3])], { attributes: [attr.int('axis', 1)] });
  const w = g.initializer(floatTensor('fc.weight', [64, 10], glorotUniform(random, 64, 10)));
  const b = g.initializer(floatTensor('fc.bias', [10], uniform(random, 10, -0.1, 0.1)));
  g.op('Softmax', [g.op('Gemm', [flat, w, b])], { attributes: [attr.int('axis', -1)], output: 'probabilities' });
  g.output('probabilities', 'float32', [1, 10]);
  const description = `Wide ConvNet 3x64x64 → conv32 → pool → conv64 → pool → conv64 → GAP → 10 (seed ${seed})`;
  return {
    bytes: g.build({ docString: description }),
    inputs: [{ name: 'image', dtype: 'float32', shape: [1, 3, 64, 64], min: 0, max: 1 }],
    description,
  };
}

/** A matmul-heavy MLP 512 → 1024 → 1024 → 10 (MatMul + Add layers, as PyTorch exports them). */
export function buildLargeMlp(seed = 5): GeneratedModel {
  const random = mulberry32(seed);
  const g = new GraphBuilder('large_mlp');
  let x = g.input('input', 'float32', ['N', 512]);
  const sizes: Array<[number, number]> = [
    [512, 1024],
    [1024, 1024],
    [1024, 10],
  ];
  sizes.forEach(([fanIn, fanOut], i) => {
    const w = g.initializer(floatTensor(`fc${i + 1}.weight`, [fanIn, fanOut], glorotUniform(random, fanIn, fanOut)));
    const b = g.initializer(floatTensor(`fc${i + 1}.bias`, [fanOut], uniform(random, fanOut, -0.1, 0.1)));
    const y = g.op('Add', [g.op('MatMul', [x, w]), b]);
    x = i < sizes.length - 1 ? g.op('Relu', [y]) : y;
  });
  g.op('Softmax', [x], { attributes: [attr.int('axis', -1)], output: 'probabilities' });
  g.output('probabilities', 'float32', ['N', 10]);
  const description = `MLP 512→1024→1024→10 (matmul, seed ${seed})`;
  return {
    bytes: g.build({ docString: description }),
    inputs: [{ name: 'input', dtype: 'float32', shape: [1, 512], min: -1, max: 1 }],
    description,
  };
}

/** Every fixture by name. */
export function fixtureModels(): Record<string, GeneratedModel> {
  return {
    'mlp-gemm': buildMlpClassifier(),
    'mlp-matmul': buildMlpClassifier({ layers: 'matmul', batch: 4 }),
    convnet: buildConvNet(),
    'multi-input': buildMultiInput(),
    recurrent: buildRecurrent(),
    'mlp-large': buildLargeMlp(),
    'convnet-wide': buildWideConvNet(),
  };
}
