import { GraphBuilder, attr } from '../graph-builder.js';
import { floatTensor } from '../onnx-types.js';
import { glorotUniform, mulberry32, uniform } from '../prng.js';
import { checkSeed, type GeneratedModel } from './generated-model.js';

/** Options of `buildMultiInput`. */
export interface MultiInputOptions {
  seed?: number;
}

const VOCAB = 100;
const DIM = 16;
const BATCH = 1;
const SEQ = 8;

/**
 * Two inputs with dynamic dims, one of them int64: `features` float32 [batch, 16] and
 * `token_ids` int64 [batch, seq] → Gather(embedding 100x16) → ReduceMean over seq →
 * Add features → Relu → Gemm(16→1) → `score` float32 [batch, 1].
 */
export function buildMultiInput(options: MultiInputOptions = {}): GeneratedModel {
  const seed = checkSeed(options.seed ?? 1);
  const random = mulberry32(seed);
  const g = new GraphBuilder('multi_input');
  const features = g.input('features', 'float32', ['batch', DIM]);
  const tokens = g.input('token_ids', 'int64', ['batch', 'seq']);
  const table = g.initializer(floatTensor('embedding', [VOCAB, DIM], uniform(random, VOCAB * DIM, -0.5, 0.5)));
  const embedded = g.op('Gather', [table, tokens], { attributes: [attr.int('axis', 0)] });
  // Opset 17 uses ReduceMean-13, whose axes are an attribute; opset 18 moved them to an input.
  const pooled = g.op('ReduceMean', [embedded], { attributes: [attr.ints('axes', [1]), attr.int('keepdims', 0)] });
  const mixed = g.op('Relu', [g.op('Add', [pooled, features])]);
  const w = g.initializer(floatTensor('head.weight', [DIM, 1], glorotUniform(random, DIM, 1)));
  const b = g.initializer(floatTensor('head.bias', [1], [0]));
  g.op('Gemm', [mixed, w, b], { output: 'score' });
  g.output('score', 'float32', ['batch', 1]);
  const description = `Multi-input scorer: features[batch,${DIM}] + token_ids[batch,seq] (vocab ${VOCAB}) → score (seed ${seed})`;
  return {
    bytes: g.build({ docString: description }),
    inputs: [
      { name: 'features', dtype: 'float32', shape: [BATCH, DIM], min: -1, max: 1 },
      { name: 'token_ids', dtype: 'int64', shape: [BATCH, SEQ], min: 0, max: VOCAB - 1 },
    ],
    description,
  };
}
