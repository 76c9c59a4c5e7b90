import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type ModelName, toNumbers, writeModel } from '../test-support/models.js';
import type { InferenceEngine } from './inference.engine.js';
import { WorkerInferenceEngine } from './worker-inference.engine.js';

const engines: InferenceEngine[] = [];

function newEngine(): InferenceEngine {
  const engine = new WorkerInferenceEngine({ intraOpThreads: 1, seed: 42 });
  engines.push(engine);
  return engine;
}

afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.dispose()));
});

describe('WorkerInferenceEngine with real onnxruntime-node', () => {
  it.each<ModelName>(['mlp', 'conv', 'multi', 'recurrent'])('loads and runs the %s model', async (name) => {
    const model = await writeModel(name);
    const engine = newEngine();
    await engine.load(model.path, model.inputs);
    for (let i = 0; i < 5; i++) {
      const result = await engine.run();
      expect(result.error).toBeUndefined();
      expect(result.ok).toBe(true);
      expect(result.latencyMs).toBeGreaterThan(0);
    }
  });

  it('feeds int64 inputs with the dims from the spec (dynamic dims fixed)', async () => {
    const model = await writeModel('multi');
    const engine = newEngine();
    await engine.load(model.path, model.inputs);
    const { capture } = await engine.run({ capture: true });
    for (const spec of model.inputs) {
      const fed = capture?.inputs[spec.name];
      expect(fed?.dtype).toBe(spec.dtype);
      expect(fed?.dims).toEqual(spec.shape);
    }
    const ids = Object.values(capture?.inputs ?? {}).find((t) => t.dtype === 'int64');
    expect(ids?.data).toBeInstanceOf(BigInt64Array);
  });

  it('feeds recurrent state back: h_in of run 2 equals h_out of run 1', async () => {
    const model = await writeModel('recurrent');
    const state = model.inputs.find((i) => i.stateFrom !== undefined);
    expect(state?.stateFrom).toBe('h_out');
    const engine = newEngine();
    await engine.load(model.path, model.inputs);
    const first = await engine.run({ capture: true });
    const second = await engine.run({ capture: true });
    const h0 = first.capture?.inputs.h_in?.data;
    const h1 = first.capture?.outputs.h_out?.data;
    expect(h0).toBeDefined();
    expect(toNumbers(h0)).toEqual(new Array(16).fill(0));
    expect(toNumbers(h1).some((v) => v !== 0)).toBe(true);
    expect(toNumbers(second.capture?.inputs.h_in?.data)).toEqual(toNumbers(h1));
    expect(toNumbers(h1)).toHaveLength(16);
  });

  it('rejects a file that is not ONNX at load time and stays usable for dispose', async () => {
    const model = await writeModel('mlp');
    const bad = join(model.path, '..', 'garbage.onnx');
    await writeFile(bad, 'definitely not a protobuf');
    const engine = newEngine();
    await expect(engine.load(bad, model.inputs)).rejects.toThrow();
    expect((await engine.run()).ok).toBe(false);
  });

  it('reports a failed run when the inputs do not fit the model', async () => {
    const model = await writeModel('mlp');
    const engine = newEngine();
    const first = model.inputs[0];
    if (first === undefined) throw new Error('mlp has an input');
    await engine.load(model.path, [{ ...first, shape: [1, 3] }]);
    const result = await engine.run();
    expect(result.ok).toBe(false);
    expect(result.error).toMatch(/.+/);
  });

  it('dispose waits for the in-flight run', async () => {
    const model = await writeModel('conv');
    const engine = newEngine();
    await engine.load(model.path, model.inputs);
    const inFlight = engine.run();
    await engine.dispose();
    expect((await inFlight).ok).toBe(true);
  });
});
