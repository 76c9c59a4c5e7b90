import { GraphBuilder, attr, floatTensor, int64Tensor } from '@edge-fleet/onnx-builder';
import type { InputSpec } from '@edge-fleet/shared/schemas';
import { describe, expect, it } from 'vitest';
import { generateInputs } from '../calibration/input-data.js';
import type { RunOutputs } from '../measure/agreement.js';
import { createSession, runOnce, toFeeds } from '../measure/session.js';
import { defaultOpset } from '../model/model-checks.js';
import { decodeModel } from '../model/model-decoder.js';
import { makeAttribute, makeNode, type OnnxModel, encodeModel } from '@edge-fleet/onnx-codec';
import { upgradeOpset } from './opset-upgrade.js';
import { verifyUpgrade } from './verify-upgrade.js';

/** An old-opset model: one op under test between input `x` and output(s). */
interface Case {
  opset: number;
  shape: number[];
  build(g: GraphBuilder, x: string): void;
}

/** IR version of the era, so onnxruntime reads the file as an exporter of that opset wrote it. */
const irFor = (opset: number): number => (opset <= 8 ? 3 : opset <= 10 ? 5 : 6);

function oldModel(c: Case): { bytes: Uint8Array; specs: InputSpec[] } {
  const g = new GraphBuilder('old');
  const x = g.input('x', 'float32', c.shape);
  c.build(g, x);
  return {
    bytes: g.build({ irVersion: irFor(c.opset), opsets: [{ domain: '', version: c.opset }] }),
    specs: [{ name: 'x', dtype: 'float32', shape: c.shape }],
  };
}

async function runAll(bytes: Uint8Array, specs: InputSpec[], count = 6): Promise<RunOutputs[]> {
  const session = await createSession(bytes, { intraOpThreads: 1 });
  try {
    const out: RunOutputs[] = [];
    for (const s of generateInputs(specs, count, 99).samples) out.push(await runOnce(session, toFeeds(s, specs)));
    return out;
  } finally {
    await session.release();
  }
}

/** Upgrades, then checks in onnxruntime that the opset-13 model computes exactly what the old one does. */
async function expectFaithfulUpgrade(bytes: Uint8Array, specs: InputSpec[]): Promise<OnnxModel> {
  const reference = await runAll(bytes, specs);
  const result = upgradeOpset(decodeModel(bytes));
  if ('notApplicable' in result) throw new Error(result.notApplicable);
  expect(defaultOpset(result.model)).toBe(13);
  const samples = generateInputs(specs, 6, 99).samples;
  const check = await verifyUpgrade(encodeModel(result.model), specs, samples, reference, 1);
  if ('drift' in check) throw new Error(check.drift);
  expect(check.maxAbsError).toBe(0);
  return result.model;
}

const softmaxCase = (op: string, axis: number, shape: number[]): Case => ({
  opset: 12,
  shape,
  build: (g, x) => g.output(g.op(op, [x], { attributes: [attr.int('axis', axis)], output: 'y' }), 'float32', shape),
});

const CASES: Record<string, Case> = {
  'Squeeze-11 axes attribute → input': {
    opset: 11,
    shape: [1, 3, 1, 4],
    build: (g, x) => g.output(g.op('Squeeze', [x], { attributes: [attr.ints('axes', [0, 2])], output: 'y' }), 'float32', [3, 4]),
  },
  'Unsqueeze-11 axes attribute → input': {
    opset: 11,
    shape: [3, 4],
    build: (g, x) => g.output(g.op('Unsqueeze', [x], { attributes: [attr.ints('axes', [0, -1])], output: 'y' }), 'float32', [1, 3, 4, 1]),
  },
  'ReduceSum-12 axes attribute → input': {
    opset: 12,
    shape: [2, 3, 4],
    build: (g, x) =>
      g.output(g.op('ReduceSum', [x], { attributes: [attr.ints('axes', [1]), attr.int('keepdims', 0)], output: 'y' }), 'float32', [2, 4]),
  },
  'Split-12 split attribute → input': {
    opset: 12,
    shape: [2, 4, 3],
    build: (g, x) => {
      g.node({
        opType: 'Split',
        inputs: [x],
        outputs: ['a', 'b'],
        name: 'split',
        attributes: [attr.int('axis', 1), attr.ints('split', [1, 3])],
      });
      g.output('a', 'float32', [2, 1, 3]);
      g.output('b', 'float32', [2, 3, 3]);
    },
  },
  'Softmax-12 on a middle axis (2-D coercion kept by Flatten/Reshape)': softmaxCase('Softmax', 1, [2, 3, 4]),
  'LogSoftmax-11 with the default axis on rank 3': {
    opset: 11,
    shape: [2, 3, 4],
    build: (g, x) => g.output(g.op('LogSoftmax', [x], { output: 'y' }), 'float32', [2, 3, 4]),
  },
  'Hardmax-12 on a middle axis': softmaxCase('Hardmax', 1, [2, 3, 4]),
  'Softmax-12 on the last axis keeps one node': softmaxCase('Softmax', 1, [3, 5]),
  'Clip-10 min/max attributes → inputs': {
    opset: 10,
    shape: [2, 8],
    build: (g, x) =>
      g.output(g.op('Clip', [x], { attributes: [attr.float('min', -0.25), attr.float('max', 0.5)], output: 'y' }), 'float32', [2, 8]),
  },
  'Clip-9 with max only': {
    opset: 9,
    shape: [2, 8],
    build: (g, x) => g.output(g.op('Clip', [x], { attributes: [attr.float('max', 0.1)], output: 'y' }), 'float32', [2, 8]),
  },
  'Pad-10 pads/value attributes → inputs': {
    opset: 10,
    shape: [1, 2, 3, 3],
    build: (g, x) =>
      g.output(
        g.op('Pad', [x], { attributes: [attr.ints('pads', [0, 0, 1, 2, 0, 0, 2, 1]), attr.float('value', 1.5)], output: 'y' }),
        'float32',
        [1, 2, 6, 6],
      ),
  },
  'Pad-7 reflect mode': {
    opset: 7,
    shape: [1, 1, 4, 4],
    build: (g, x) =>
      g.output(
        g.op('Pad', [x], { attributes: [attr.string('mode', 'reflect'), attr.ints('pads', [0, 0, 1, 1, 0, 0, 1, 1])], output: 'y' }),
        'float32',
        [1, 1, 6, 6],
      ),
  },
  'Upsample-7 scales attribute → Resize': {
    opset: 7,
    shape: [1, 2, 3, 3],
    build: (g, x) =>
      g.output(
        g.op('Upsample', [x], { attributes: [attr.floats('scales', [1, 1, 2, 3]), attr.string('mode', 'nearest')], output: 'y' }),
        'float32',
        [1, 2, 6, 9],
      ),
  },
  'Upsample-9 linear with a scales input → Resize': {
    opset: 9,
    shape: [1, 2, 3, 3],
    build: (g, x) => {
      const scales = g.initializer(floatTensor('scales', [4], [1, 1, 2, 2]));
      g.output(g.op('Upsample', [x, scales], { attributes: [attr.string('mode', 'linear')], output: 'y' }), 'float32', [1, 2, 6, 6]);
    },
  },
  'Resize-10 nearest → Resize-11 asymmetric/floor': {
    opset: 10,
    shape: [1, 1, 4, 4],
    build: (g, x) => {
      const scales = g.initializer(floatTensor('scales', [4], [1, 1, 1.5, 2]));
      g.output(g.op('Resize', [x, scales], { attributes: [attr.string('mode', 'nearest')], output: 'y' }), 'float32', [1, 1, 6, 8]);
    },
  },
  'Resize-10 linear → Resize-11 asymmetric': {
    opset: 10,
    shape: [1, 2, 3, 5],
    build: (g, x) => {
      const scales = g.initializer(floatTensor('scales', [4], [1, 1, 2, 1.6]));
      g.output(g.op('Resize', [x, scales], { attributes: [attr.string('mode', 'linear')], output: 'y' }), 'float32', [1, 2, 6, 8]);
    },
  },
  'Squeeze-7 without axes squeezes every 1': {
    opset: 7,
    shape: [1, 3, 1],
    build: (g, x) => g.output(g.op('Squeeze', [x], { output: 'y' }), 'float32', [3]),
  },
  'Slice-7 without axes': {
    opset: 7,
    shape: [4, 6],
    build: (g, x) =>
      g.output(
        g.op('Slice', [x], { attributes: [attr.ints('starts', [1, 2]), attr.ints('ends', [3, -1])], output: 'y' }),
        'float32',
        [2, 3],
      ),
  },
  'Slice-9 starts/ends/axes attributes → inputs': {
    opset: 9,
    shape: [3, 5, 4],
    build: (g, x) =>
      g.output(
        g.op('Slice', [x], {
          attributes: [attr.ints('starts', [1, -3]), attr.ints('ends', [3, 1000]), attr.ints('axes', [0, 1])],
          output: 'y',
        }),
        'float32',
        [2, 3, 4],
      ),
  },
  'TopK-9 k attribute → input': {
    opset: 9,
    shape: [2, 6],
    build: (g, x) => {
      g.node({ opType: 'TopK', inputs: [x], outputs: ['values', 'indices'], name: 'topk', attributes: [attr.int('k', 3)] });
      g.output('values', 'float32', [2, 3]);
      g.output('indices', 'int64', [2, 3]);
    },
  },
  'Scatter-10 → ScatterElements': {
    opset: 10,
    shape: [3, 3],
    build: (g, x) => {
      const indices = g.initializer(int64Tensor('indices', [2, 3], [1, 0, 2, 0, 2, 1]));
      const updates = g.initializer(floatTensor('updates', [2, 3], [1, 2, 3, 4, 5, 6]));
      g.output(g.op('Scatter', [x, indices, updates], { attributes: [attr.int('axis', 0)], output: 'y' }), 'float32', [3, 3]);
    },
  },
  'Dropout-11 ratio attribute → input': {
    opset: 11,
    shape: [2, 4],
    build: (g, x) => g.output(g.op('Dropout', [x], { attributes: [attr.float('ratio', 0.3)], output: 'y' }), 'float32', [2, 4]),
  },
  'BatchNormalization-8 spatial=1 attribute dropped': {
    opset: 8,
    shape: [1, 2, 3, 3],
    build: (g, x) => {
      const p = (n: string, v: number[]): string => g.initializer(floatTensor(n, [2], v));
      const inputs = [x, p('scale', [1.5, 0.5]), p('bias', [0.1, -0.2]), p('mean', [0.3, -0.1]), p('var', [0.8, 1.2])];
      g.output(g.op('BatchNormalization', inputs, { attributes: [attr.int('spatial', 1)], output: 'y' }), 'float32', [1, 2, 3, 3]);
    },
  },
};

describe('opset upgrader (issue 16: opsets 7–12 → 13, outputs equal in onnxruntime)', () => {
  it.each(Object.entries(CASES))('%s', async (_name, c) => {
    const { bytes, specs } = oldModel(c);
    await expectFaithfulUpgrade(bytes, specs);
  });

  it('upgrades nodes inside If branches too', async () => {
    const branch = (axes: number[]): OnnxModel['graph'] => {
      const g = new GraphBuilder('branch');
      const x = g.input('x', 'float32', [3, 4]);
      g.output(g.op('Unsqueeze', [x], { attributes: [attr.ints('axes', axes)], output: `y_${axes.join('_')}` }), 'float32', [1, 3, 4]);
      const body = decodeModel(g.build({ opsets: [{ domain: '', version: 11 }] })).graph;
      body.inputs = [];
      return body;
    };
    const g = new GraphBuilder('outer');
    g.input('x', 'float32', [3, 4]);
    g.input('flag', 'bool', []);
    g.output(g.op('Identity', ['x'], { output: 'y' }), 'float32', [3, 4]);
    const model = decodeModel(g.build({ irVersion: 6, opsets: [{ domain: '', version: 11 }] }));
    const ifNode = makeNode('If', ['flag'], ['z'], 'if', [
      makeAttribute('then_branch', { type: 'GRAPH', value: branch([0]) }),
      makeAttribute('else_branch', { type: 'GRAPH', value: branch([0]) }),
    ]);
    model.graph.nodes.push(ifNode);
    model.graph.outputs.push({
      ...model.graph.inputs[0],
      name: 'z',
      docString: '',
      type: { tensor: { elemType: 1 }, denotation: '' },
    });
    const specs: InputSpec[] = [
      { name: 'x', dtype: 'float32', shape: [3, 4] },
      { name: 'flag', dtype: 'bool', shape: [] },
    ];
    const upgraded = await expectFaithfulUpgrade(encodeModel(model), specs);
    const inner = upgraded.graph.nodes.find((n) => n.opType === 'If')?.attributes[0];
    expect(inner?.type === 'GRAPH' ? inner.value.nodes.map((n) => n.inputs.length) : []).toEqual([2]);
  });
});

describe('opset upgrader refusals name the op and the change', () => {
  function reasonFor(c: Case): string {
    const result = upgradeOpset(decodeModel(oldModel(c).bytes));
    return 'notApplicable' in result ? result.notApplicable : 'upgraded';
  }

  it('BatchNormalization with spatial=0 (removed in opset 9)', () => {
    const c = CASES['BatchNormalization-8 spatial=1 attribute dropped'];
    if (!c) throw new Error('missing case');
    const spatial0: Case = {
      ...c,
      build: (g, x) => {
        const p = (n: string): string => g.initializer(floatTensor(n, [2, 3, 3], new Array<number>(18).fill(1)));
        g.output(
          g.op('BatchNormalization', [x, p('s'), p('b'), p('m'), p('v')], { attributes: [attr.int('spatial', 0)], output: 'y' }),
          'float32',
          [1, 2, 3, 3],
        );
      },
    };
    expect(reasonFor(spatial0)).toMatch(/cannot convert BatchNormalization "BatchNormalization_\d+" uses spatial=0 .*changed in opset 9/);
  });

  it('an experimental op removed in opset 10 (ImageScaler)', () => {
    const c: Case = {
      opset: 8,
      shape: [1, 3, 2, 2],
      build: (g, x) => g.output(g.op('ImageScaler', [x], { output: 'y' }), 'float32', [1, 3, 2, 2]),
    };
    expect(reasonFor(c)).toMatch(/ImageScaler "ImageScaler_\d+": an experimental op ONNX removed in opset 10/);
  });

  it('an opset below 7', () => {
    const c: Case = { opset: 6, shape: [2], build: (g, x) => g.output(g.op('Relu', [x], { output: 'y' }), 'float32', [2]) };
    expect(reasonFor(c)).toMatch(/opset 6 is below 7/);
  });

  it('an upgrade whose outputs drift from the original is refused with the error it measured', async () => {
    const { bytes, specs } = oldModel(softmaxCase('Softmax', 1, [2, 3, 4]));
    const reference = await runAll(bytes, specs);
    const naive = decodeModel(bytes);
    // What a converter that only bumps the version would write: per-axis softmax, not 2-D softmax.
    naive.opsets = [{ domain: '', version: 13 }];
    const check = await verifyUpgrade(encodeModel(naive), specs, generateInputs(specs, 6, 99).samples, reference, 1);
    expect('drift' in check ? check.drift : 'no drift').toMatch(/drift from the original's: max abs error \S+ > 1\.00e-5/);
  });
});
