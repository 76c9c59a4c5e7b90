import { describe, expect, it } from 'vitest';
import { generateInputs } from '../calibration/input-data.js';
import { checkInputSpecs } from '../model/input-spec-check.js';
import { defaultOpset } from '../model/model-checks.js';
import { decodeModel } from '../model/model-decoder.js';
import { createSession, runOnce, toFeeds } from '../measure/session.js';
import { CORPUS_MODELS, readCorpusModel } from './corpus-models.js';

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
