import { readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import * as ort from 'onnxruntime-node';
import { FeedGenerator, type TensorValue } from './input.generator.js';
import { findExternalData, OnnxScanError } from './onnx-external-data.js';
import { feedsFor, finiteOutput, fromOrt, offeredExecutionProviders, sessionOptions } from './ort-session.js';
import type { FromVetting, ToVetting } from './vetting.protocol.js';
import { isVettingSimulation, VETTING_CRASH_ENV, type VettingSimulation } from './vetting.simulation.js';

/**
 * The vetting child (forked by model-vetting.ts): opens one candidate model, with the options the
 * serving worker will use, runs it a few times and reports, then exits. If onnxruntime crashes or
 * runs out of memory on this file, only this process dies.
 */

function send(msg: FromVetting): Promise<void> {
  return new Promise((resolve) => {
    if (process.send === undefined) return resolve();
    process.send(msg, undefined, {}, () => resolve());
  });
}

function message(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).slice(0, 4000);
}

function simulate(mode: VettingSimulation): void {
  switch (mode) {
    case 'abort':
      process.abort();
      break;
    case 'segv':
      process.kill(process.pid, 'SIGSEGV');
      // a signal is delivered asynchronously; block so nothing else runs before it lands
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10_000);
      break;
    case 'hang':
      // blocks the thread the way a runaway native kernel would: no event, no IPC, nothing
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
      break;
    case 'oom': {
      const hog: number[][] = [];
      for (;;) hog.push(new Array<number>(1 << 20).fill(hog.length));
    }
    case 'exit':
      process.exit(3);
  }
}

async function vet(req: ToVetting): Promise<FromVetting> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(req.path);
    const external = findExternalData(bytes);
    if (external !== null) {
      const where = external.location === null ? '' : ` (location "${external.location}")`;
      return {
        type: 'failed',
        phase: 'load',
        message: `the model references external data for tensor "${external.name}"${where}; only self-contained models are accepted`,
      };
    }
  } catch (err) {
    const what = err instanceof OnnxScanError ? 'is not a well-formed ONNX protobuf' : 'could not be read';
    return { type: 'failed', phase: 'load', message: `the model file ${what}: ${message(err)}` };
  }
  await send({ type: 'stage', stage: 'scanned' });
  let session: ort.InferenceSession;
  const loadStarted = performance.now();
  try {
    // the scanned bytes themselves, so what was checked is what loads
    session = await ort.InferenceSession.create(bytes, sessionOptions(req.intraOpThreads));
  } catch (err) {
    return { type: 'failed', phase: 'load', message: message(err) };
  }
  const loadMs = performance.now() - loadStarted;
  await send({ type: 'stage', stage: 'loaded' });
  const mode = process.env[VETTING_CRASH_ENV];
  if (isVettingSimulation(mode)) simulate(mode);

  try {
    const latenciesMs = await runs(session, req);
    return Array.isArray(latenciesMs)
      ? { type: 'passed', loadMs, latenciesMs, executionProviders: offeredExecutionProviders() }
      : latenciesMs;
  } finally {
    await session.release().catch(() => undefined);
  }
}

/** The runs, fed by the worker's seeded generator; the latencies, or the first failure. */
async function runs(session: ort.InferenceSession, req: ToVetting): Promise<number[] | FromVetting> {
  const feeds = new FeedGenerator(req.inputs, req.seed);
  const latenciesMs: number[] = [];
  for (let i = 1; i <= req.runs; i++) {
    await send({ type: 'stage', stage: 'run', run: i });
    const input = feeds.next();
    let out: ort.InferenceSession.OnnxValueMapType;
    const started = performance.now();
    try {
      out = await session.run(feedsFor(input));
    } catch (err) {
      return { type: 'failed', phase: 'run', message: `run ${i} failed: ${message(err)}` };
    }
    latenciesMs.push(performance.now() - started);
    const outputs = new Map<string, TensorValue>();
    for (const [name, tensor] of Object.entries(out)) {
      if (!finiteOutput(tensor)) return { type: 'failed', phase: 'run', message: `run ${i}: non-finite output ${name}` };
      const value = fromOrt(tensor);
      if (value !== null) outputs.set(name, value);
    }
    const missing = feeds.absorb(outputs);
    if (missing.length > 0) return { type: 'failed', phase: 'run', message: `run ${i}: missing state output ${missing.join(', ')}` };
  }
  return latenciesMs;
}

/**
 * The request comes from the agent, which built it from a validated desired state; this checks its
 * shape by hand (no zod here: every import adds to the start-up each update waits for).
 */
function asRequest(raw: unknown): ToVetting | null {
  if (typeof raw !== 'object' || raw === null) return null;
  const r = raw as Partial<Record<keyof ToVetting, unknown>>;
  const int = (v: unknown, min: number, max: number): v is number => Number.isInteger(v) && (v as number) >= min && (v as number) <= max;
  const specs =
    Array.isArray(r.inputs) &&
    r.inputs.every(
      (i) =>
        typeof i === 'object' &&
        i !== null &&
        typeof (i as { name?: unknown }).name === 'string' &&
        Array.isArray((i as { shape?: unknown }).shape),
    );
  if (
    r.type !== 'vet' ||
    typeof r.path !== 'string' ||
    r.path === '' ||
    !specs ||
    !int(r.intraOpThreads, 1, 64) ||
    !int(r.seed, -(2 ** 53), 2 ** 53) ||
    !int(r.runs, 1, 100)
  )
    return null;
  return raw as ToVetting;
}

// The agent went away (killed mid-vetting): nobody waits for the verdict.
process.on('disconnect', () => process.exit(0));
process.once('message', (raw: unknown) => {
  const request = asRequest(raw);
  const verdict: Promise<FromVetting> =
    request !== null ? vet(request) : Promise.resolve({ type: 'failed', phase: 'load', message: 'malformed vetting request' });
  void verdict
    .catch((err: unknown): FromVetting => ({ type: 'failed', phase: 'load', message: message(err) }))
    .then(send)
    .then(() => process.exit(0));
});
