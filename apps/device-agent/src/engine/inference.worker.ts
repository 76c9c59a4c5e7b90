import { performance } from 'node:perf_hooks';
import { parentPort } from 'node:worker_threads';
import type { InputSpec } from '@edge-fleet/shared';
import * as ort from 'onnxruntime-node';
import { FeedGenerator, type TensorValue } from './input.generator.js';
import { feedsFor, finiteOutput, fromOrt, sessionOptions } from './ort-session.js';
import { type FromWorker, type ToWorker, ToWorkerSchema } from './worker.protocol.js';

/**
 * Owns one onnxruntime-node session. `session.run` blocks its thread for the whole inference,
 * so it lives here and not on the main loop, which must keep MQTT keepalives going.
 */
let session: ort.InferenceSession | null = null;
let feeds: FeedGenerator | null = null;
let queue: Promise<void> = Promise.resolve();

function send(msg: FromWorker): void {
  parentPort?.postMessage(msg);
}

async function load(path: string, inputs: InputSpec[], threads: number, seed: number): Promise<void> {
  try {
    session = await ort.InferenceSession.create(path, sessionOptions(threads));
    feeds = new FeedGenerator(inputs, seed);
    send({ type: 'loaded', inputNames: [...session.inputNames], outputNames: [...session.outputNames] });
  } catch (err) {
    send({ type: 'load-error', message: err instanceof Error ? err.message : String(err) });
  }
}

async function run(id: number, capture: boolean): Promise<void> {
  if (session === null || feeds === null) {
    send({ type: 'result', id, ok: false, latencyMs: null, error: 'no model loaded' });
    return;
  }
  const input = feeds.next();
  const ortFeeds = feedsFor(input);
  try {
    const started = performance.now();
    const out = await session.run(ortFeeds);
    const latencyMs = performance.now() - started;
    const outputs = new Map<string, TensorValue>();
    let ok = true;
    for (const [name, tensor] of Object.entries(out)) {
      ok &&= finiteOutput(tensor);
      const value = fromOrt(tensor);
      if (value !== null) outputs.set(name, value);
    }
    const missing = feeds.absorb(outputs);
    const error = !ok ? 'non-finite output' : missing.length > 0 ? `missing state output ${missing.join(', ')}` : undefined;
    send({ type: 'result', id, ok: error === undefined, latencyMs, error, ...captured(capture, input, outputs) });
  } catch (err) {
    send({ type: 'result', id, ok: false, latencyMs: null, error: err instanceof Error ? err.message : String(err) });
  }
}

function captured(
  capture: boolean,
  inputs: Map<string, TensorValue>,
  outputs: Map<string, TensorValue>,
): { capture?: { inputs: Record<string, TensorValue>; outputs: Record<string, TensorValue> } } {
  if (!capture) return {};
  return { capture: { inputs: Object.fromEntries(inputs), outputs: Object.fromEntries(outputs) } };
}

async function dispose(): Promise<void> {
  await session?.release();
  session = null;
  feeds = null;
  send({ type: 'disposed' });
}

async function handle(msg: ToWorker): Promise<void> {
  switch (msg.type) {
    case 'load':
      return load(msg.path, msg.inputs, msg.intraOpThreads, msg.seed);
    case 'run':
      return run(msg.id, msg.capture);
    case 'dispose':
      return dispose();
  }
}

parentPort?.on('message', (raw: unknown) => {
  const parsed = ToWorkerSchema.safeParse(raw);
  if (!parsed.success) return;
  // One message at a time: recurrent state must be fed back before the next run starts.
  queue = queue.then(() => handle(parsed.data));
});
