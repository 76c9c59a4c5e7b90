import { GraphBuilder, attr } from '../graph-builder.js';
import { floatTensor } from '../onnx-types.js';
import { glorotUniform, mulberry32, uniform, type Random } from '../prng.js';
import { checkSeed, checkSize, type GeneratedModel } from './generated-model.js';

/** Options of `buildMlpClassifier`. */
export interface MlpClassifierOptions {
  inputSize?: number;
  hidden?: number;
  classes?: number;
  seed?: number;
  /** `gemm` (default) uses Gemm layers; `matmul` uses MatMul + Add, as PyTorch exports often do. */
  layers?: 'gemm' | 'matmul';
  /** Batch size the InputSpec fixes the dynamic `N` dimension to; default 1. */
  batch?: number;
  /**
   * The model's doc string (default: the description). Another one gives the same graph and
   * weights in other bytes: a re-versioned identical model, with a new sha256.
   */
  docString?: string;
}

function dense(
  g: GraphBuilder,
  random: Random,
  x: string,
  [fanIn, fanOut]: [number, number],
  prefix: string,
  layers: 'gemm' | 'matmul',
): string {
  const w = g.initializer(floatTensor(`${prefix}.weight`, [fanIn, fanOut], glorotUniform(random, fanIn, fanOut)));
  const b = g.initializer(floatTensor(`${prefix}.bias`, [fanOut], uniform(random, fanOut, -0.1, 0.1)));
  if (layers === 'gemm') return g.op('Gemm', [x, w, b]);
  return g.op('Add', [g.op('MatMul', [x, w]), b]);
}

/**
 * A two-layer perceptron classifier: input `input` float32 [N, inputSize] →
 * Gemm → Relu → Gemm → Softmax → `probabilities` float32 [N, classes].
 */
export function buildMlpClassifier(options: MlpClassifierOptions = {}): GeneratedModel {
  const inputSize = checkSize('inputSize', options.inputSize ?? 64);
  const hidden = checkSize('hidden', options.hidden ?? 128);
  const classes = checkSize('classes', options.classes ?? 10);
  const batch = checkSize('batch', options.batch ?? 1);
  const seed = checkSeed(options.seed ?? 1);
  const layers = options.layers ?? 'gemm';
  const random = mulberry32(seed);
  const g = new GraphBuilder('mlp_classifier');
  const x = g.input('input', 'float32', ['N', inputSize]);
  const h = g.op('Relu', [dense(g, random, x, [inputSize, hidden], 'fc1', layers)]);
  const logits = dense(g, random, h, [hidden, classes], 'fc2', layers);
  g.op('Softmax', [logits], { attributes: [attr.int('axis', -1)], output: 'probabilities' });
  g.output('probabilities', 'float32', ['N', classes]);
  const description = `MLP classifier ${inputSize}→${hidden}→${classes} (${layers}, seed ${seed})`;
  return {
    bytes: g.build({ docString: options.docString ?? description }),
    inputs: [{ name: 'input', dtype: 'float32', shape: [batch, inputSize], min: -1, max: 1 }],
    description,
  };
}
