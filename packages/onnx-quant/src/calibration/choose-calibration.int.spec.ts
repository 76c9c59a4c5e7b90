import { GraphBuilder, attr, floatTensor, mulberry32, uniform } from '@edge-fleet/onnx-builder';
import { describe, expect, it } from 'vitest';
import { buildVariants, type BuildVariantsOptions } from '../build-variants.js';

const SHAPE = [1, 3, 32, 32];
const SIZE = 3 * 32 * 32;

/** One Conv: only its input is quantized per tensor (model outputs stay float), so the input's range decides. */
function convNet(): Uint8Array {
  const random = mulberry32(5);
  const g = new GraphBuilder('one_conv');
  const w = g.initializer(floatTensor('c.w', [4, 3, 3, 3], uniform(random, 108, -0.4, 0.4)));
  g.op('Conv', [g.input('image', 'float32', SHAPE), w], { attributes: [attr.ints('pads', [1, 1, 1, 1])], output: 'y' });
  g.output('y', 'float32', [1, 4, 32, 32]);
  return g.build();
}

/** Images in [0, 1]; with `glitch`, the first one has one pixel at 1000, as a sensor glitch in uploaded data would. */
function images(count: number, seed: number, glitch: boolean): number[][] {
  const random = mulberry32(seed);
  return Array.from({ length: count }, (_, s) =>
    Array.from({ length: SIZE }, (_v, i) => (glitch && s === 0 && i === 100 ? 1000 : random())),
  );
}

async function staticInt8(calibration: BuildVariantsOptions['int8Static']) {
  const build = await buildVariants(convNet(), [{ name: 'image', dtype: 'float32', shape: SHAPE, min: 0, max: 1 }], {
    methods: ['int8-static-qdq'],
    calibrationData: { image: images(32, 1, true) },
    evaluationData: { image: images(16, 2, false) },
    measure: { warmupRuns: 1, timedRuns: 3 },
    ...(calibration ? { int8Static: calibration } : {}),
  });
  const [v] = build.variants;
  if (!v) throw new Error('no variant');
  return v;
}

describe('static INT8 calibration method (issue 16 item 2)', () => {
  it('percentile is chosen where one outlier would stretch a min/max range, and the variant records it', async () => {
    const auto = await staticInt8(undefined);
    expect(auto.calibration).toBe('percentile');
    expect(auto.notes.join('\n')).toMatch(
      /activations calibrated by percentile \(cosine to FP32 on 8 held-back calibration inputs: minmax [01]\.\d{4}, percentile [01]\.\d{4}\)/,
    );
    const minmax = await staticInt8({ calibration: 'minmax' });
    expect(minmax.calibration).toBe('minmax');
    expect(minmax.notes).toContain('activations calibrated by minmax');
    const [a, m] = [auto.measured?.agreement?.cosine ?? 0, minmax.measured?.agreement?.cosine ?? 0];
    expect(auto.status, auto.reason).toBe('ready');
    expect(a).toBeGreaterThan(m);
  });
});
