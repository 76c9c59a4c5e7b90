import { GraphBuilder } from '../graph-builder.js';
import { floatTensor } from '../onnx-types.js';
import { glorotUniform, mulberry32, uniform } from '../prng.js';
import { checkSeed, type GeneratedModel } from './generated-model.js';

/** Options of `buildRecurrent`. */
export interface RecurrentOptions {
  seed?: number;
}

const INPUT = 8;
const STATE = 16;
const OUT = 4;

/**
 * One step of an Elman RNN cell whose state the caller feeds back:
 * `h_out = Tanh(x·Wx + h_in·Wh + b)`, `y = h_out·Wy + by`.
 * Inputs `x` float32 [1, 8], `h_in` float32 [1, 16]; outputs `h_out` [1, 16], `y` [1, 4].
 */
export function buildRecurrent(options: RecurrentOptions = {}): GeneratedModel {
  const seed = checkSeed(options.seed ?? 1);
  const random = mulberry32(seed);
  const g = new GraphBuilder('recurrent_cell');
  const x = g.input('x', 'float32', [1, INPUT]);
  const hIn = g.input('h_in', 'float32', [1, STATE]);
  const wx = g.initializer(floatTensor('cell.wx', [INPUT, STATE], glorotUniform(random, INPUT, STATE)));
  const wh = g.initializer(floatTensor('cell.wh', [STATE, STATE], glorotUniform(random, STATE, STATE)));
  const b = g.initializer(floatTensor('cell.bias', [STATE], uniform(random, STATE, -0.1, 0.1)));
  const xw = g.op('MatMul', [x, wx]);
  const hwb = g.op('Gemm', [hIn, wh, b]);
  g.op('Tanh', [g.op('Add', [xw, hwb])], { output: 'h_out' });
  const wy = g.initializer(floatTensor('head.weight', [STATE, OUT], glorotUniform(random, STATE, OUT)));
  const by = g.initializer(floatTensor('head.bias', [OUT], uniform(random, OUT, -0.1, 0.1)));
  g.op('Gemm', ['h_out', wy, by], { output: 'y' });
  g.output('h_out', 'float32', [1, STATE]);
  g.output('y', 'float32', [1, OUT]);
  const description = `RNN cell x[${INPUT}] + h[${STATE}] → tanh → h_out, y[${OUT}] (seed ${seed})`;
  return {
    bytes: g.build({ docString: description }),
    inputs: [
      { name: 'x', dtype: 'float32', shape: [1, INPUT], min: -1, max: 1 },
      { name: 'h_in', dtype: 'float32', shape: [1, STATE], min: -1, max: 1, stateFrom: 'h_out' },
    ],
    description,
  };
}
