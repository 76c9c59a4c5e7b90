import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type ModelName, toNumbers, writeModel } from '../test-support/models.js';
import { INLINE_BUDGET, type InlineBudget } from './inline-placement.js';
import { FeedGenerator } from './input.generator.js';
import type { Worker } from 'node:worker_threads';
import { waitFor } from '@edge-fleet/test-utils';
import { defaultWorkerUrl, RESTART_BUDGET, type RestartBudget, WorkerInferenceEngine } from './worker-inference.engine.js';

const engines: WorkerInferenceEngine[] = [];

function newEngine(budget?: InlineBudget, restarts: RestartBudget = RESTART_BUDGET): WorkerInferenceEngine {
  const engine = new WorkerInferenceEngine({ intraOpThreads: 1, seed: 42 }, defaultWorkerUrl(), budget, restarts);
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

  it('runs a model that measured within the inline budget on the main thread, and ends its worker', async () => {
    const model = await writeModel('mlp');
    const engine = newEngine();
    await engine.load(model.path, model.inputs);
    expect(engine.placement).toBe('inline');
    const result = await engine.run();
    expect(result.ok).toBe(true);
    await engine.dispose();
    expect(engine.placement).toBeNull();
    expect(await engine.run()).toMatchObject({ ok: false, error: 'engine disposed' });
  });

  it('keeps a slow model in the worker, where its runs do not hold up the main loop', async () => {
    const model = await writeModel('slow');
    const engine = newEngine();
    await engine.load(model.path, model.inputs);
    expect(engine.placement).toBe('worker');
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const started = performance.now();
    const result = await engine.run();
    const elapsed = performance.now() - started;
    clearInterval(timer);
    expect(result.ok).toBe(true);
    // the run held its own thread for tens of ms; this one kept firing its 1 ms timer meanwhile
    expect(elapsed).toBeGreaterThan(10);
    expect(ticks).toBeGreaterThan(elapsed / 4);
  });

  it('yields to the main loop between inline runs', async () => {
    const model = await writeModel('mlp');
    const engine = newEngine();
    await engine.load(model.path, model.inputs);
    expect(engine.placement).toBe('inline');
    let fired = false;
    setTimeout(() => (fired = true), 1);
    let runs = 0;
    const started = performance.now();
    while (!fired && performance.now() - started < 2_000) {
      await engine.run();
      runs++;
    }
    expect(fired).toBe(true);
    expect(runs).toBeGreaterThan(1);
  });

  it.each(['recurrent', 'slow'] as const)(
    "serves the seed's inputs from the first run on (%s): the calibration runs on a generator of its own",
    async (name) => {
      const model = await writeModel(name);
      const engine = newEngine();
      await engine.load(model.path, model.inputs);
      const expected = new FeedGenerator(model.inputs, 42).next();
      const { capture } = await engine.run({ capture: true });
      for (const [input, value] of expected) {
        const served = toNumbers(capture?.inputs[input]?.data);
        // a boolean, not toEqual: a failing diff of the slow model's 147k values takes vitest minutes
        expect(served.length === value.data.length && served.every((v, i) => v === Number(value.data[i]))).toBe(true);
      }
    },
  );

  it('moves an inline model whose runs turn slow to a worker, which continues from its recurrent state', async () => {
    const model = await writeModel('recurrent');
    // a calibration any machine passes (on a loaded CI machine the real budget put it in the worker
    // at load, and the move was never exercised), then every served run counts as slow, as if the
    // model had turned slow after its calibration
    const engine = newEngine({ ...INLINE_BUDGET, runMs: 1_000, warmupCeilingMs: 1_000, loadMs: 10_000, slowRunMs: 0 });
    await engine.load(model.path, model.inputs);
    expect(engine.placement).toBe('inline');
    const results = [];
    for (let i = 0; i < INLINE_BUDGET.slowRunsToLeave + 3; i++) results.push(await engine.run({ capture: true }));
    expect(engine.placement).toBe('worker');
    expect(results.every((r) => r.ok)).toBe(true);
    // the state runs on across the move: each run is fed the h_out of the one before
    for (let i = 1; i < results.length; i++) {
      expect(toNumbers(results[i]?.capture?.inputs.h_in?.data)).toEqual(toNumbers(results[i - 1]?.capture?.outputs.h_out?.data));
    }
  });

  it('keeps an inline model whose runs stay within the budget on the main thread', async () => {
    const model = await writeModel('mlp');
    const engine = newEngine();
    await engine.load(model.path, model.inputs);
    for (let i = 0; i < 200; i++) expect((await engine.run()).ok).toBe(true);
    expect(engine.placement).toBe('inline');
  });

  describe('a worker that dies while serving', () => {
    /** Never inline: the model stays in the worker whatever this machine measures. */
    const IN_WORKER: InlineBudget = { ...INLINE_BUDGET, loadMs: -1 };
    /** Ends the engine's worker thread from outside, as a fatal error in the thread would. */
    const killWorker = async (engine: WorkerInferenceEngine) => {
      const worker = (engine as unknown as { worker: Worker | null }).worker;
      if (worker === null) throw new Error('no worker to kill');
      await worker.terminate();
    };

    it('is started again: runs fail with the reason while it restarts, then the model serves again', async () => {
      const model = await writeModel('mlp');
      const engine = newEngine(IN_WORKER, { max: 3, windowMs: 60_000, backoffMs: 50 });
      await engine.load(model.path, model.inputs);
      expect(engine.placement).toBe('worker');
      await killWorker(engine);
      const during = await engine.run();
      expect(during.ok).toBe(false);
      expect(during.error).toMatch(/inference worker restarting after: inference worker exited with code 1/);
      await waitFor(() => engine.placement === 'worker', 20_000, 'worker started again');
      expect(engine.restarts).toBe(1);
      const after = await engine.run();
      expect(after.error).toBeUndefined();
      expect(after.ok).toBe(true);
    });

    it('is not started again past its budget: the engine then stays down, saying why', async () => {
      const model = await writeModel('mlp');
      const engine = newEngine(IN_WORKER, { max: 2, windowMs: 60_000, backoffMs: 10 });
      await engine.load(model.path, model.inputs);
      for (let i = 1; i <= 2; i++) {
        await killWorker(engine);
        await waitFor(() => engine.placement === 'worker', 20_000, `worker started again (${i})`);
        expect((await engine.run()).ok).toBe(true);
      }
      await killWorker(engine);
      const result = await engine.run();
      expect(result.ok).toBe(false);
      expect(result.error).toMatch(/exited with code 1; the worker was started again 2 time\(s\) in the last 60 s, not again/);
      expect(engine.placement).toBeNull();
      expect(engine.restarts).toBe(2);
    });
  });
});
