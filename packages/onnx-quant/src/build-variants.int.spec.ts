import {
  GraphBuilder,
  attr,
  buildConvNet,
  buildMlpClassifier,
  buildMultiInput,
  buildRecurrent,
  floatTensor,
  type GeneratedModel,
} from '@edge-fleet/onnx-builder';
import { InferenceSession } from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { buildVariants, sha256, type BuildVariantsOptions, type VariantReport } from './build-variants.js';
import { generateInputs } from './calibration/input-data.js';
import { OnnxQuantError } from './errors.js';
import { decodeModel } from './model/model-decoder.js';
import { DataType, tensorValueInfo, encodeModel } from '@edge-fleet/onnx-codec';
import { optimizedOpTypes } from './measure/optimized-graph.js';
import { runOnce, toFeeds } from './measure/session.js';

const FAST: BuildVariantsOptions = {
  calibrationSamples: 64,
  evaluationSamples: 40,
  measure: { warmupRuns: 2, timedRuns: 5 },
};

const fixtures: Record<string, GeneratedModel> = {
  'mlp-gemm': buildMlpClassifier(),
  'mlp-matmul': buildMlpClassifier({ layers: 'matmul', batch: 3 }),
  convnet: buildConvNet(),
  'multi-input': buildMultiInput(),
  recurrent: buildRecurrent(),
};

function variant(reports: VariantReport[], method: VariantReport['method']): VariantReport {
  const v = reports.find((r) => r.method === method);
  if (!v) throw new Error(`no ${method} report`);
  return v;
}

describe('buildVariants on the fixture models', () => {
  it.each(Object.entries(fixtures))('%s: every variant builds, loads in onnxruntime and agrees with FP32', async (_name, m) => {
    const build = await buildVariants(m.bytes, m.inputs, FAST);
    expect(build.fp32.measured.latencyMs.runs).toBe(5);
    expect(build.calibration).toEqual({ source: 'generated', seed: 0x5eed, samples: 64 });
    expect(build.evaluation).toMatchObject({ source: 'generated', seed: 0xe7a1 });
    expect(build.machine.intraOpThreads).toBe(1);
    for (const v of build.variants) {
      expect(v.status, `${v.method}: ${v.reason ?? ''}`).not.toBe('failed');
      expect(v.status).not.toBe('not_applicable');
      const a = v.measured?.agreement;
      expect(a, v.method).toBeDefined();
      // 4-bit weights on tiny layers (K = 8 or 16) lose more; the others must stay close.
      expect(a?.cosine ?? 0, v.method).toBeGreaterThan(v.precision === 'int4' ? 0.99 : 0.999);
      if (v.precision !== 'int4' && a?.top1 !== undefined) expect(a.top1, v.method).toBeGreaterThanOrEqual(0.95);
      expect(v.sha256).toMatch(/^[0-9a-f]{64}$/);
    }
    const fp16 = variant(build.variants, 'fp16');
    expect(fp16.measured?.agreement?.maxAbsError ?? 1).toBeLessThan(1e-2);
  });

  it('keeps FP16 I/O in float32 and halves the weights', async () => {
    const m = buildMlpClassifier();
    const build = await buildVariants(m.bytes, m.inputs, { ...FAST, methods: ['fp16'] });
    const bytes = variant(build.variants, 'fp16').bytes;
    if (!bytes) throw new Error('no fp16 bytes');
    const model = decodeModel(bytes);
    expect(model.graph.inputs[0]?.type?.tensor?.elemType).toBe(1);
    expect(model.graph.outputs[0]?.type?.tensor?.elemType).toBe(1);
    expect(model.graph.initializers.every((t) => t.dataType === 10)).toBe(true);
    expect(bytes.length / m.bytes.length).toBeLessThan(0.55);
  });

  it('FP16 keeps a node whose constant exceeds the fp16 range in float32 (issue 16: PaddleOCR BatchNormalization variance 1e8)', async () => {
    const g = new GraphBuilder('big_variance');
    const x = g.input('x', 'float32', [1, 2, 3, 3]);
    const p = (n: string, v: number[]): string => g.initializer(floatTensor(n, [2], v));
    const bn = g.op('BatchNormalization', [x, p('scale', [1, 2]), p('bias', [0, 0]), p('mean', [0.1, -0.1]), p('var', [9.8e7, 1e8])]);
    g.op('Relu', [bn], { output: 'y' });
    g.output('y', 'float32', [1, 2, 3, 3]);
    const build = await buildVariants(g.build(), [{ name: 'x', dtype: 'float32', shape: [1, 2, 3, 3] }], { ...FAST, methods: ['fp16'] });
    const fp16 = variant(build.variants, 'fp16');
    expect(fp16.status, fp16.reason).toBe('ready');
    expect(fp16.measured?.agreement?.cosine ?? 0).toBeGreaterThan(0.999);
    expect(fp16.notes.join('\n')).toMatch(
      /BatchNormalization "BatchNormalization_\d+" kept in float32: a constant input reaches 1\.00e\+8, beyond fp16's 65504/,
    );
  });

  it('quantizes weights an exporter wrote as Constant nodes (issue 16: paddle2onnx)', async () => {
    const g = new GraphBuilder('constant_weights');
    const x = g.input('x', 'float32', [1, 32]);
    const weight = floatTensor(
      'w',
      [32, 16],
      Array.from({ length: 512 }, (_, i) => Math.cos(i) / 5),
    );
    const w = g.op('Constant', [], { attributes: [attr.tensor('value', weight)] });
    g.op('MatMul', [x, w], { output: 'y' });
    g.output('y', 'float32', [1, 16]);
    const build = await buildVariants(g.build(), [{ name: 'x', dtype: 'float32', shape: [1, 32] }], FAST);
    for (const v of build.variants) {
      expect(['ready', 'unusable'], `${v.method}: ${v.reason ?? ''}`).toContain(v.status);
      expect(v.notes).toContain('1 Constant node(s) read as initializers');
    }
  });

  it('writes static QDQ that onnxruntime fuses into integer kernels', async () => {
    for (const [m, fused] of [
      [buildConvNet(), 'QLinearConv'],
      [buildMlpClassifier({ layers: 'matmul' }), 'QLinearMatMul'],
    ] as const) {
      const build = await buildVariants(m.bytes, m.inputs, { ...FAST, methods: ['int8-static-qdq'] });
      const bytes = variant(build.variants, 'int8-static-qdq').bytes;
      if (!bytes) throw new Error('no int8 bytes');
      const ops = await optimizedOpTypes(bytes);
      expect(ops).toContain(fused);
    }
  });

  it('reports variants that do not apply, with the reason', async () => {
    const g = new GraphBuilder('no_linear');
    const x = g.input('x', 'float32', [1, 4]);
    const b = g.initializer(floatTensor('b', [4], [0.1, 0.2, 0.3, 0.4]));
    g.op('Relu', [g.op('Add', [x, b])], { output: 'y' });
    g.output('y', 'float32', [1, 4]);
    const build = await buildVariants(g.build(), [{ name: 'x', dtype: 'float32', shape: [1, 4] }], FAST);
    expect(variant(build.variants, 'fp16').status).toBe('ready');
    for (const method of ['int8-static-qdq', 'int8-dynamic', 'int4-matmulnbits'] as const) {
      const v = variant(build.variants, method);
      expect(v.status).toBe('not_applicable');
      expect(v.reason).toMatch(/no (Conv, )?MatMul/);
    }
  });

  it('records supplied calibration data and marks variants below the floor unusable', async () => {
    const m = buildMlpClassifier();
    const calibrationData = { input: [Array.from({ length: 64 }, (_, i) => (i % 7) / 7 - 0.5)] };
    const build = await buildVariants(m.bytes, m.inputs, {
      ...FAST,
      calibrationData,
      methods: ['int4-matmulnbits'],
      accuracyFloor: { minCosine: 0.999999 },
    });
    expect(build.calibration).toEqual({ source: 'supplied', samples: 1 });
    const v = variant(build.variants, 'int4-matmulnbits');
    expect(v.status).toBe('unusable');
    expect(v.reason).toMatch(/cosine similarity .* < floor 0.999999/);
  });
});

describe('models outside the opsets the transforms take (issue 16)', () => {
  function opset9Classifier(): Uint8Array {
    const g = new GraphBuilder('old_classifier');
    const x = g.input('x', 'float32', [1, 16]);
    const w = g.initializer(
      floatTensor(
        'w',
        [16, 8],
        Array.from({ length: 128 }, (_, i) => Math.sin(i) / 4),
      ),
    );
    const b = g.initializer(
      floatTensor(
        'b',
        [8],
        Array.from({ length: 8 }, (_, i) => i / 20),
      ),
    );
    const clipped = g.op('Clip', [g.op('Gemm', [x, w, b])], { attributes: [attr.float('min', 0), attr.float('max', 6)] });
    g.op('Softmax', [clipped], { attributes: [attr.int('axis', 1)], output: 'y' });
    g.output('y', 'float32', [1, 8]);
    return g.build({ irVersion: 4, opsets: [{ domain: '', version: 9 }] });
  }

  it('upgrades an opset-9 model after checking its outputs, builds every variant, and serves the uploaded file as FP32', async () => {
    const bytes = opset9Classifier();
    const build = await buildVariants(bytes, [{ name: 'x', dtype: 'float32', shape: [1, 16] }], FAST);
    expect(build.upgrade).toMatchObject({
      fromOpset: 9,
      toOpset: 13,
      maxAbsError: 0,
      samples: 40,
      rewritten: { 'Clip→11': 1, 'Softmax→13': 1 },
    });
    expect(build.fp32.sha256).toBe(sha256(bytes));
    // INT4 blocks on a 16-wide layer may fall below the top-1 floor: unusable is an honest outcome, failed is not.
    for (const v of build.variants) expect(['ready', 'unusable'], `${v.method}: ${v.reason ?? ''}`).toContain(v.status);
    expect(build.variants.find((v) => v.method === 'fp16')?.status).toBe('ready');
  });

  it('an IR-3 model that lists its weights as graph inputs gets every variant, none failed', async () => {
    const model = decodeModel(opset9Classifier());
    model.irVersion = 3;
    model.opsets = [{ domain: '', version: 8 }];
    // IR 3 exporters list every initializer among the graph inputs.
    model.graph.inputs.push(tensorValueInfo('w', DataType.FLOAT, [16, 8]), tensorValueInfo('b', DataType.FLOAT, [8]));
    const build = await buildVariants(encodeModel(model), [{ name: 'x', dtype: 'float32', shape: [1, 16] }], FAST);
    expect(build.upgrade?.fromOpset).toBe(8);
    for (const v of build.variants) {
      expect(['ready', 'unusable'], `${v.method}: ${v.reason ?? ''}`).toContain(v.status);
      expect(v.notes).toContain('2 initializer(s) listed as graph inputs treated as constants');
    }
  });

  it.each([6, 22])('opset %i: FP32 measured, every other variant not_applicable with the reason', async (opset) => {
    const g = new GraphBuilder('relu');
    g.input('x', 'float32', [1, 4]);
    g.output(g.op('Relu', ['x'], { output: 'y' }), 'float32', [1, 4]);
    const build = await buildVariants(
      g.build({ irVersion: opset > 21 ? 10 : 3, opsets: [{ domain: '', version: opset }] }),
      [{ name: 'x', dtype: 'float32', shape: [1, 4] }],
      FAST,
    );
    expect(build.fp32.measured.latencyMs.runs).toBe(5);
    expect(build.upgrade).toBeUndefined();
    for (const v of build.variants) {
      expect(v.status).toBe('not_applicable');
      expect(v.reason).toMatch(opset === 6 ? /opset 6 is below 7/ : /opset 22 is outside the supported range 13–21/);
    }
  });
});

describe('encode(decode(m)) runs in onnxruntime with identical outputs', () => {
  it.each(Object.entries(fixtures))('%s', async (_name, m) => {
    const [a, b] = await Promise.all([InferenceSession.create(m.bytes), InferenceSession.create(encodeModel(decodeModel(m.bytes)))]);
    for (const sample of generateInputs(m.inputs, 3, 11).samples) {
      const feeds = toFeeds(sample, m.inputs);
      expect(await runOnce(b, feeds)).toEqual(await runOnce(a, feeds));
    }
    await Promise.all([a.release(), b.release()]);
  });
});

describe('bad input to buildVariants', () => {
  async function codeOf(p: Promise<unknown>): Promise<string> {
    try {
      await p;
    } catch (err) {
      return err instanceof OnnxQuantError ? `${err.code}: ${err.message}` : `untyped: ${String(err)}`;
    }
    return 'resolved';
  }
  const m = buildMultiInput();

  it('names the problem', async () => {
    expect(await codeOf(buildVariants(Uint8Array.of(1, 2, 3, 4), m.inputs))).toMatch(/^invalid_onnx/);
    const wrongDtype = m.inputs.map((s) => (s.name === 'token_ids' ? { ...s, dtype: 'int32' as const } : s));
    expect(await codeOf(buildVariants(m.bytes, wrongDtype))).toMatch(/^invalid_input_spec: input "token_ids": spec says int32/);
    expect(await codeOf(buildVariants(m.bytes, m.inputs.slice(0, 1)))).toMatch(
      /^invalid_input_spec: no input spec for model input\(s\): token_ids/,
    );
    const badData = { features: [[1, 2]], token_ids: [[1, 2, 3, 4, 5, 6, 7, 8]] };
    expect(await codeOf(buildVariants(m.bytes, m.inputs, { calibrationData: badData }))).toMatch(
      /^invalid_calibration_data: input "features": sample 0 has 2 values/,
    );
  });
});
