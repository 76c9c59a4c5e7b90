import { performance, monitorEventLoopDelay } from 'node:perf_hooks';
import { readFileSync } from 'node:fs';
import { InputSpecListSchema } from '@edge-fleet/shared';
// The benchmark measures the real agent, so it runs the agent's own compiled engine and input generator.
import { FeedGenerator } from '@edge-fleet/device-agent/dist/engine/input.generator.js';
import { createWorkerEngine } from '@edge-fleet/device-agent/dist/engine/worker-inference.engine.js';
import * as ort from 'onnxruntime-node';
import { z } from 'zod';

/**
 * One side of the agent benchmark, in its own process so its RSS is its own:
 * `agent` drives the agent's worker-thread engine (what the workload generator calls),
 * `raw` calls onnxruntime-node's session.run on the main thread. Same model, inputs (same seed),
 * thread count and session options. Commands arrive over IPC.
 */
const Cmd = z.discriminatedUnion('type', [
  z.object({ type: z.literal('block'), runs: z.int().min(1) }),
  z.object({ type: z.literal('exit') }),
]);

const [mode, modelPath, inputsFile, threadsArg, seedArg] = process.argv.slice(2);
if ((mode !== 'agent' && mode !== 'raw') || !modelPath || !inputsFile) throw new Error('usage: agent-side agent|raw <model.onnx> <inputs.json> <threads> <seed>');
const inputs = InputSpecListSchema.parse(JSON.parse(readFileSync(inputsFile, 'utf8')));
const threads = Number(threadsArg ?? '1');
const seed = Number(seedArg ?? '1');

/** Latency seen by the caller, and (agent only) the engine's own session.run time inside the worker. */
type RunOnce = () => Promise<{ outer: number; inner: number }>;

async function agentRunner(): Promise<RunOnce> {
  const engine = createWorkerEngine({ intraOpThreads: threads, seed });
  await engine.load(modelPath ?? '', inputs);
  return async () => {
    const t = performance.now();
    const r = await engine.run();
    const ms = performance.now() - t;
    if (!r.ok) throw new Error(`agent run failed: ${r.error ?? 'unknown'}`);
    return { outer: ms, inner: r.latencyMs ?? Number.NaN };
  };
}

async function rawRunner(): Promise<RunOnce> {
  // the same session options as the agent's inference worker
  const session = await ort.InferenceSession.create(modelPath ?? '', { intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' });
  const feeds = new FeedGenerator(inputs, seed);
  return async () => {
    const input = feeds.next();
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [name, v] of input) ortFeeds[name] = new ort.Tensor(v.dtype, v.data, v.dims);
    const t = performance.now();
    await session.run(ortFeeds);
    const ms = performance.now() - t;
    return { outer: ms, inner: ms };
  };
}

const run = mode === 'agent' ? await agentRunner() : await rawRunner();
process.send?.({ type: 'ready' });
process.on('message', (raw: unknown) => {
  const cmd = Cmd.parse(raw);
  if (cmd.type === 'exit') process.exit(0);
  void (async () => {
    const h = monitorEventLoopDelay({ resolution: 1 });
    const latencies: number[] = [];
    const inner: number[] = [];
    h.enable();
    for (let i = 0; i < cmd.runs; i++) {
      const r = await run();
      latencies.push(r.outer);
      inner.push(r.inner);
    }
    h.disable();
    process.send?.({ type: 'result', latencies, inner, loopP99Ms: h.percentile(99) / 1e6, loopMaxMs: h.max / 1e6, rssMb: process.memoryUsage().rss / 1_048_576 });
  })();
});
