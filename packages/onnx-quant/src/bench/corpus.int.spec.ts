import { describe, expect, it } from 'vitest';
import { buildVariants, type VariantBuild } from '../build-variants.js';
import { generateInputs } from '../calibration/input-data.js';
import { checkInputSpecs } from '../model/input-spec-check.js';
import { defaultOpset } from '../model/model-checks.js';
import { decodeModel } from '../model/model-decoder.js';
import { optimizedOpTypes } from '../measure/optimized-graph.js';
import { createSession, runOnce, toFeeds } from '../measure/session.js';
import { CORPUS_MODELS, readCorpusModel, type CorpusModel } from './corpus-models.js';

describe('corpus of published models', () => {
  it.each(Object.entries(CORPUS_MODELS))(
    '%s: the shipped file has the documented opset and runs in onnxruntime with its spec',
    async (_name, c) => {
      const bytes = await readCorpusModel(c);
      const model = decodeModel(bytes);
      expect(defaultOpset(model)).toBe(c.opset);
      const specs = checkInputSpecs(model, c.inputs);
      const session = await createSession(bytes, { intraOpThreads: 1 });
      try {
        const [sample] = generateInputs(specs, 1, 7).samples;
        if (!sample) throw new Error('no sample');
        const out = await runOnce(session, toFeeds(sample, specs));
        for (const o of Object.values(out)) expect(o.data.every(Number.isFinite)).toBe(true);
      } finally {
        await session.release();
      }
    },
  );
});

async function build(c: CorpusModel): Promise<VariantBuild> {
  return buildVariants(await readCorpusModel(c), c.inputs, {
    ...(c.data ? { calibrationData: c.data(32, 1), evaluationData: c.data(16, 2) } : {}),
    calibrationSamples: 32,
    evaluationSamples: 16,
    measure: { warmupRuns: 1, timedRuns: 3 },
  });
}

describe('corpus through the variant builder (issue 16)', () => {
  it.each(Object.entries(CORPUS_MODELS))('%s: every variant is ready above its floor, or says why not; none failed', async (_name, c) => {
    const result = await build(c);
    for (const v of result.variants) {
      expect(v.status, `${v.method}: ${v.reason ?? ''}`).not.toBe('failed');
      if (v.status === 'ready') expect(v.measured?.agreement?.cosine ?? 0, v.method).toBeGreaterThanOrEqual(0.99);
      else expect(v.reason, v.method).toMatch(/\S/);
    }
    if (c.opset < 13) {
      // The upgraded model computed exactly what the uploaded one did on the held-out inputs.
      expect(result.upgrade).toMatchObject({ fromOpset: c.opset, toOpset: 13, maxAbsError: 0, samples: 16 });
    } else expect(result.upgrade).toBeUndefined();
  });

  it('the opset-9 text-direction classifier gets every variant, FP16 and INT8 dynamic with full top-1 agreement on text-like crops, static INT8 fused into 53 QLinearConv', async () => {
    const c = CORPUS_MODELS['ocr-cls'];
    if (!c) throw new Error('no ocr-cls');
    const result = await build(c);
    expect(result.upgrade?.rewritten).toEqual({ 'Clip→11': 18, 'Slice→10': 1, 'Softmax→13': 1 });
    // Static INT8 of a MobileNetV3 with per-tensor activations may miss the floor; it is then unusable, not failed.
    for (const v of result.variants) expect(['ready', 'unusable'], `${v.method}: ${v.reason ?? ''}`).toContain(v.status);
    // onnxruntime fuses every convolution of the static QDQ graph into an integer kernel.
    const qdq = result.variants.find((v) => v.method === 'int8-static-qdq');
    if (!qdq?.bytes) throw new Error('no static int8 bytes');
    const ops = await optimizedOpTypes(qdq.bytes);
    expect(ops.filter((op) => op === 'QLinearConv')).toHaveLength(53);
    expect(ops).not.toContain('Conv');
    expect(ops).toContain('QLinearMatMul');
    // Its residual Adds and the SE blocks' pooling read quantized tensors and stay integer: 89 Q/DQ before, 75 now.
    expect(ops.filter((op) => op === 'QLinearAdd')).toHaveLength(7);
    expect(ops.filter((op) => op === 'QuantizeLinear' || op === 'DequantizeLinear')).toHaveLength(75);
    for (const method of ['fp16', 'int8-dynamic'] as const) {
      const v = result.variants.find((x) => x.method === method);
      expect(v?.status, `${method}: ${v?.reason ?? ''}`).toBe('ready');
      expect(v?.measured?.agreement?.top1, method).toBe(1);
    }
  });

  it("the TF speech embedding's LeakyReLU after each quantized conv runs as QLinearLeakyRelu", async () => {
    const c = CORPUS_MODELS['speech-embedding'];
    if (!c) throw new Error('no speech-embedding');
    const qdq = (await build(c)).variants.find((v) => v.method === 'int8-static-qdq');
    expect(qdq?.status, qdq?.reason).toBe('ready');
    if (!qdq?.bytes) throw new Error('no static int8 bytes');
    const ops = await optimizedOpTypes(qdq.bytes);
    expect(ops.filter((op) => op === 'QLinearLeakyRelu')).toHaveLength(19);
    expect(ops).not.toContain('LeakyRelu');
  });

  it('the opset-11 text detector gets a usable FP16 variant (its BatchNormalization with variance 1e8, inf in fp16, folded away) and keeps min/max calibration for static INT8', async () => {
    const c = CORPUS_MODELS['ocr-det'];
    if (!c) throw new Error('no ocr-det');
    const result = await build(c);
    const fp16 = result.variants.find((v) => v.method === 'fp16');
    expect(fp16?.status, fp16?.reason).toBe('ready');
    expect(fp16?.notes.join('\n')).toMatch(/2 BatchNormalization node\(s\) folded into the Conv before them/);
    // Percentile clipping costs the detector far more than min/max (0.70 against 0.91 measured): min/max is kept and recorded.
    const qdq = result.variants.find((v) => v.method === 'int8-static-qdq');
    expect(qdq?.calibration).toBe('minmax');
    const scores = /minmax (\d\.\d+), percentile (\d\.\d+)/.exec(qdq?.notes.join('\n') ?? '');
    expect(Number(scores?.[1])).toBeGreaterThan(Number(scores?.[2]));
  });

  it('Silero VAD gets FP16 through its If bodies; the integer variants name the ops inside them', async () => {
    const c = CORPUS_MODELS.vad;
    if (!c) throw new Error('no vad');
    const result = await build(c);
    const fp16 = result.variants.find((v) => v.method === 'fp16');
    expect(fp16?.status, fp16?.reason).toBe('ready');
    expect(fp16?.notes.join('\n')).toMatch(/18 If\/Loop\/Scan bod\(ies\) converted inside/);
    for (const v of result.variants.filter((x) => x.method !== 'fp16')) expect(v.status).toBe('not_applicable');
    const qdq = result.variants.find((v) => v.method === 'int8-static-qdq');
    expect(qdq?.reason).toMatch(/the main graph has no Conv, MatMul or Gemm; \d+ Conv are inside If\/Loop\/Scan bodies/);
  });
});
