import { InputSpecListSchema, type InputSpec } from '@edge-fleet/shared/schemas';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { buildConvNet } from './models/conv-net.factory.js';
import type { GeneratedModel } from './models/generated-model.js';
import { buildMlpClassifier } from './models/mlp-classifier.factory.js';
import { buildMultiInput } from './models/multi-input.factory.js';
import { buildRecurrent } from './models/recurrent.factory.js';
import { readModelSignature } from './onnx-reader.js';
import { mulberry32 } from './prng.js';

/** Random feeds within each input's [min, max], as the workload generator produces them. */
function feedsFor(specs: readonly InputSpec[], seed = 7): Record<string, Tensor> {
  const random = mulberry32(seed);
  const feeds: Record<string, Tensor> = {};
  for (const s of specs) {
    const count = s.shape.reduce((a, b) => a * b, 1);
    const lo = s.min ?? -1;
    const hi = s.max ?? 1;
    if (s.dtype === 'int64') {
      const data = BigInt64Array.from({ length: count }, () => BigInt(lo + Math.floor(random() * (hi - lo + 1))));
      feeds[s.name] = new Tensor('int64', data, s.shape);
    } else {
      feeds[s.name] = new Tensor(
        'float32',
        Float32Array.from({ length: count }, () => lo + (hi - lo) * random()),
        s.shape,
      );
    }
  }
  return feeds;
}

function floats(t: Tensor | undefined): Float32Array {
  if (t?.data instanceof Float32Array) return t.data;
  throw new Error(`expected a float32 tensor, got ${t?.type}`);
}

interface Case {
  name: string;
  build: (seed: number) => GeneratedModel;
  inputs: string[];
  outputs: Record<string, number[]>;
  softmax?: string;
}

const cases: Case[] = [
  {
    name: 'mlp (gemm)',
    build: (seed) => buildMlpClassifier({ seed }),
    inputs: ['input'],
    outputs: { probabilities: [1, 10] },
    softmax: 'probabilities',
  },
  {
    name: 'mlp (matmul, batch 3)',
    build: (seed) => buildMlpClassifier({ seed, layers: 'matmul', batch: 3, inputSize: 20, hidden: 7, classes: 5 }),
    inputs: ['input'],
    outputs: { probabilities: [3, 5] },
    softmax: 'probabilities',
  },
  {
    name: 'convnet',
    build: (seed) => buildConvNet({ seed }),
    inputs: ['image'],
    outputs: { probabilities: [1, 10] },
    softmax: 'probabilities',
  },
  {
    name: 'multi-input',
    build: (seed) => buildMultiInput({ seed }),
    inputs: ['features', 'token_ids'],
    outputs: { score: [1, 1] },
  },
  {
    name: 'recurrent',
    build: (seed) => buildRecurrent({ seed }),
    inputs: ['x', 'h_in'],
    outputs: { h_out: [1, 16], y: [1, 4] },
  },
];

describe.each(cases)('$name in onnxruntime-node', ({ build, inputs, outputs, softmax }) => {
  const model = build(1);

  it('declares a valid InputSpec list matching the graph inputs', () => {
    expect(InputSpecListSchema.parse(model.inputs).map((i) => i.name)).toEqual(inputs);
    const sig = readModelSignature(model.bytes);
    expect(sig.inputs.map((i) => i.name)).toEqual(inputs);
    expect(sig.outputs.map((o) => o.name)).toEqual(Object.keys(outputs));
    expect(sig.opsets).toEqual([{ domain: '', version: 17 }]);
  });

  it('loads and runs, giving finite outputs of the declared shapes', async () => {
    const session = await InferenceSession.create(Buffer.from(model.bytes));
    try {
      expect(session.inputNames).toEqual(inputs);
      expect(session.outputNames).toEqual(Object.keys(outputs));
      const result = await session.run(feedsFor(model.inputs));
      for (const [name, dims] of Object.entries(outputs)) {
        expect(result[name]?.dims).toEqual(dims);
        expect(floats(result[name]).every(Number.isFinite)).toBe(true);
      }
      if (softmax !== undefined) {
        const probs = floats(result[softmax]);
        const classes = outputs[softmax]?.[1] ?? 0;
        for (let row = 0; row < probs.length / classes; row += 1) {
          const sum = probs.subarray(row * classes, (row + 1) * classes).reduce((a, b) => a + b, 0);
          expect(sum).toBeCloseTo(1, 5);
        }
      }
    } finally {
      await session.release();
    }
  });

  it('is byte-identical for the same seed and differs for another', () => {
    expect(Buffer.from(build(1).bytes).equals(Buffer.from(model.bytes))).toBe(true);
    expect(Buffer.from(build(2).bytes).equals(Buffer.from(model.bytes))).toBe(false);
  });
});

describe('recurrent state', () => {
  it('feeds h_out back as h_in and the state stays bounded but moves', async () => {
    const model = buildRecurrent({ seed: 3 });
    const stateSpec = model.inputs.find((i) => i.stateFrom !== undefined);
    expect(stateSpec).toMatchObject({ name: 'h_in', stateFrom: 'h_out' });
    const session = await InferenceSession.create(Buffer.from(model.bytes));
    try {
      const feeds = feedsFor(model.inputs);
      feeds.h_in = new Tensor('float32', new Float32Array(16), [1, 16]);
      const states: Float32Array[] = [];
      for (let step = 0; step < 3; step += 1) {
        const out = await session.run(feeds);
        const h = floats(out.h_out);
        expect(h.every((v) => v > -1 && v < 1)).toBe(true);
        states.push(h.slice());
        feeds.h_in = new Tensor('float32', h, [1, 16]);
      }
      expect(states[1]).not.toEqual(states[0]);
    } finally {
      await session.release();
    }
  });
});

describe('multi-input dynamic dims', () => {
  it('runs with a batch and sequence length other than the InputSpec ones', async () => {
    const session = await InferenceSession.create(Buffer.from(buildMultiInput().bytes));
    try {
      const feeds = feedsFor([
        { name: 'features', dtype: 'float32', shape: [4, 16] },
        { name: 'token_ids', dtype: 'int64', shape: [4, 3], min: 0, max: 99 },
      ]);
      const out = await session.run(feeds);
      expect(out.score?.dims).toEqual([4, 1]);
    } finally {
      await session.release();
    }
  });
});

describe('re-versioned MLP (another doc string)', () => {
  it('has other bytes but the same graph and weights: the same outputs for the same inputs', async () => {
    const a = buildMlpClassifier({ seed: 5, batch: 4 });
    const b = buildMlpClassifier({ seed: 5, batch: 4, docString: 'release 2' });
    expect(Buffer.from(a.bytes).equals(Buffer.from(b.bytes))).toBe(false);
    expect(b.inputs).toEqual(a.inputs);
    const [sa, sb] = await Promise.all([InferenceSession.create(Buffer.from(a.bytes)), InferenceSession.create(Buffer.from(b.bytes))]);
    try {
      const feeds = feedsFor(a.inputs);
      expect(floats((await sb.run(feeds)).probabilities)).toEqual(floats((await sa.run(feeds)).probabilities));
    } finally {
      await Promise.all([sa.release(), sb.release()]);
    }
  });
});
