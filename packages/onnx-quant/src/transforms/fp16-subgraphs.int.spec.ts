import { GraphBuilder, attr, floatTensor } from '@edge-fleet/onnx-builder';
import { DataType, encodeModel, makeAttribute, makeNode, type OnnxGraph } from '@edge-fleet/onnx-codec';
import type { InputSpec } from '@edge-fleet/shared/schemas';
import { describe, expect, it } from 'vitest';
import { buildVariants } from '../build-variants.js';
import { decodeModel } from '../model/model-decoder.js';

const FAST = { calibrationSamples: 16, evaluationSamples: 40, measure: { warmupRuns: 1, timedRuns: 3 } };
const SPECS: InputSpec[] = [
  { name: 'x', dtype: 'float32', shape: [1, 8] },
  { name: 'flag', dtype: 'bool', shape: [] },
];

/** A branch body: MatMul of the outer `x` with an outer weight, then a body-local Constant added. */
function branch(weight: string, bias: number, out: string): OnnxGraph {
  const g = new GraphBuilder(`${out}_body`);
  g.input('x', 'float32', [1, 8]);
  g.input(weight, 'float32', [8, 4]);
  const b = g.op('Constant', [], {
    attributes: [attr.tensor('value', floatTensor('b', [4], [bias, -bias, bias / 2, 0]))],
  });
  g.output(g.op('Add', [g.op('MatMul', ['x', weight]), b], { output: out }), 'float32', [1, 4]);
  const body = decodeModel(g.build()).graph;
  // A body reads outer values by name and declares no inputs of its own.
  body.inputs = [];
  return body;
}

/** y = flag ? x·Wa + ba : x·Wb + bb, with the weights in the outer graph (as PyTorch exports If). */
function ifModel(): Uint8Array {
  const g = new GraphBuilder('if_model');
  g.input('x', 'float32', [1, 8]);
  g.input('flag', 'bool', []);
  g.initializer(
    floatTensor(
      'wa',
      [8, 4],
      Array.from({ length: 32 }, (_, i) => Math.sin(i) / 3),
    ),
  );
  g.initializer(
    floatTensor(
      'wb',
      [8, 4],
      Array.from({ length: 32 }, (_, i) => Math.cos(i) / 3),
    ),
  );
  g.output(g.op('Identity', ['x'], { output: 'x_copy' }), 'float32', [1, 8]);
  const model = decodeModel(g.build());
  model.graph.nodes.push(
    makeNode('If', ['flag'], ['y'], 'if', [
      makeAttribute('then_branch', { type: 'GRAPH', value: branch('wa', 0.25, 'ya') }),
      makeAttribute('else_branch', { type: 'GRAPH', value: branch('wb', -0.5, 'yb') }),
    ]),
  );
  const y = {
    name: 'y',
    docString: '',
    type: { tensor: { elemType: DataType.FLOAT, shape: [1, 4] }, denotation: '' },
  };
  model.graph.outputs = [y];
  return encodeModel(model);
}

describe('FP16 inside If/Loop/Scan bodies (issue 16)', () => {
  it('converts both If branches with float32 at the boundary and agrees with FP32 on either branch', async () => {
    const build = await buildVariants(ifModel(), SPECS, { ...FAST, methods: ['fp16'] });
    const fp16 = build.variants[0];
    expect(fp16?.status, fp16?.reason).toBe('ready');
    expect(fp16?.measured?.agreement?.maxAbsError ?? 1).toBeLessThan(1e-2);
    expect(fp16?.notes).toContain('2 If/Loop/Scan bod(ies) converted inside, float32 at their boundaries');
    if (!fp16?.bytes) throw new Error('no fp16 bytes');
    const model = decodeModel(fp16.bytes);
    // The outer weights the bodies read are stored in half; the If hands float32 back.
    expect(model.graph.initializers.map((t) => [t.name, t.dataType])).toEqual([
      ['wa', DataType.FLOAT16],
      ['wb', DataType.FLOAT16],
    ]);
    expect(model.graph.outputs[0]?.type?.tensor?.elemType).toBe(DataType.FLOAT);
  });

  it('the integer variants say which ops sit inside bodies they do not enter', async () => {
    const build = await buildVariants(ifModel(), SPECS, { ...FAST, methods: ['int8-dynamic', 'int8-static-qdq', 'int4-matmulnbits'] });
    for (const v of build.variants) {
      expect(v.status).toBe('not_applicable');
      expect(v.reason).toMatch(
        /the main graph has no .*; 2 MatMul are inside If\/Loop\/Scan bodies, which integer quantization does not enter/,
      );
    }
  });
});
