import { performance, monitorEventLoopDelay } from 'node:perf_hooks';
import { readFileSync } from 'node:fs';
import type { InputSpec } from '@edge-fleet/shared';
import * as ort from 'onnxruntime-node';
import { FeedGenerator } from '../engine/input.generator.js';

/**
 * One side of the agent benchmark (`pnpm bench:agent`, driven by fleet-sim's agent.bench), in its own
 * process so its RSS is its own; the agent package exports it as `@edge-fleet/device-agent/bench/agent-side`
 * so the benchmark runs the agent's own engine without importing another app's code:
 * `agent` drives the agent's engine (what the workload generator calls; it runs the model inline or
 * in its worker thread, as it decides), `raw` calls onnxruntime-node's session.run on the main thread.
 * Same model, inputs (same seed), thread count and session options. Commands arrive over IPC.
 *
 * The raw side is a bare onnxruntime process: it loads neither zod nor the shared schemas (they cost
 * ~16 MB of RSS), which the agent needs anyway; so commands are checked by hand here.
 */
type Cmd = { type: 'block'; runs: number } | { type: 'soak'; ms: number } | { type: 'exit' };

function asCmd(raw: unknown): Cmd {
  const c = (typeof raw === 'object' && raw !== null ? raw : {}) as { type?: unknown; runs?: unknown; ms?: unknown };
  if (c.type === 'exit') return { type: 'exit' };
  if (c.type === 'block' && Number.isInteger(c.runs) && (c.runs as number) >= 1) return { type: 'block', runs: c.runs as number };
  if (c.type === 'soak' && Number.isInteger(c.ms) && (c.ms as number) >= 1) return { type: 'soak', ms: c.ms as number };
  throw new Error(`agent-side: bad command ${JSON.stringify(raw)}`);
}

const [mode, modelPath, inputsFile, threadsArg, seedArg] = process.argv.slice(2);
if ((mode !== 'agent' && mode !== 'raw') || !modelPath || !inputsFile)
  throw new Error('usage: agent-side agent|raw <model.onnx> <inputs.json> <threads> <seed>');
const inputsJson: unknown = JSON.parse(readFileSync(inputsFile, 'utf8'));
const threads = Number(threadsArg ?? '1');
const seed = Number(seedArg ?? '1');

/** Latency seen by the caller, and (agent only) the engine's own session.run time. */
type RunOnce = () => Promise<{ outer: number; inner: number }>;

async function agentRunner(): Promise<{ run: RunOnce; placement: () => string; basis: string }> {
  // the agent validates input specs with the shared schema, so its side does too
  const { InputSpecListSchema } = await import('@edge-fleet/shared');
  const { createWorkerEngine } = await import('../engine/worker-inference.engine.js');
  const engine = createWorkerEngine({ intraOpThreads: threads, seed });
  await engine.load(modelPath ?? '', InputSpecListSchema.parse(inputsJson));
  const run: RunOnce = async () => {
    const t = performance.now();
    const r = await engine.run();
    const ms = performance.now() - t;
    if (!r.ok) throw new Error(`agent run failed: ${r.error ?? 'unknown'}`);
    return { outer: ms, inner: r.latencyMs ?? Number.NaN };
  };
  return { run, placement: () => engine.placement ?? 'none', basis: engine.placementBasis() ?? 'none' };
}

async function rawRunner(): Promise<{ run: RunOnce; placement: () => string; basis: string }> {
  // written by agent.bench from the generated model, not untrusted
  const inputs = inputsJson as InputSpec[];
  // the same session options as the agent's engine
  const session = await ort.InferenceSession.create(modelPath ?? '', {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const feeds = new FeedGenerator(inputs, seed);
  const run: RunOnce = async () => {
    const input = feeds.next();
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [name, v] of input) ortFeeds[name] = new ort.Tensor(v.dtype, v.data, v.dims);
    const t = performance.now();
    await session.run(ortFeeds);
    const ms = performance.now() - t;
    return { outer: ms, inner: ms };
  };
  return { run, placement: () => 'main thread', basis: 'raw session.run on the main thread' };
}

const { run, placement, basis } = mode === 'agent' ? await agentRunner() : await rawRunner();
process.send?.({ type: 'ready', placement: placement(), basis });

async function block(runs: number): Promise<void> {
  const h = monitorEventLoopDelay({ resolution: 1 });
  const latencies: number[] = [];
  const inner: number[] = [];
  h.enable();
  for (let i = 0; i < runs; i++) {
    const r = await run();
    latencies.push(r.outer);
    inner.push(r.inner);
  }
  h.disable();
  process.send?.({
    type: 'result',
    latencies,
    inner,
    loopP99Ms: h.percentile(99) / 1e6,
    loopMaxMs: h.max / 1e6,
    rssMb: process.memoryUsage().rss / 1_048_576,
  });
}

/**
 * Back-to-back runs for `ms`, for the event-loop delay: a latency block of a fast model lasts ~30 ms,
 * ~30 samples of a 1 ms monitor, where the "p99" is the one worst scheduler hiccup of a shared machine.
 */
async function soak(ms: number): Promise<void> {
  const h = monitorEventLoopDelay({ resolution: 1 });
  const until = performance.now() + ms;
  let runs = 0;
  h.enable();
  while (performance.now() < until) {
    await run();
    runs++;
  }
  h.disable();
  process.send?.({
    type: 'soaked',
    placement: placement(),
    runs,
    samples: h.count,
    loopP99Ms: h.percentile(99) / 1e6,
    loopMaxMs: h.max / 1e6,
    rssMb: process.memoryUsage().rss / 1_048_576,
  });
}

process.on('message', (raw: unknown) => {
  const cmd = asCmd(raw);
  if (cmd.type === 'exit') process.exit(0);
  void (cmd.type === 'block' ? block(cmd.runs) : soak(cmd.ms));
});
