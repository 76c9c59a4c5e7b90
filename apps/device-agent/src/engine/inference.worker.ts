import { parentPort } from 'node:worker_threads';
import { SessionRunner } from './session-runner.js';
import { asToWorker } from './worker.checks.js';
import type { FromWorker, ToWorker } from './worker.protocol.js';

/**
 * Owns one onnxruntime-node session. `session.run` blocks its thread for the whole inference,
 * so a model too slow for the main loop (inline-placement.ts) is served from here, and every model is
 * loaded and timed here first. No zod in this thread: its isolate would carry the schemas' ~14 MB.
 */
let runner: SessionRunner | null = null;
let queue: Promise<void> = Promise.resolve();

function send(msg: FromWorker): void {
  parentPort?.postMessage(msg);
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

async function load(msg: Extract<ToWorker, { type: 'load' }>): Promise<void> {
  try {
    if (msg.handover === undefined) await SessionRunner.warmRuntime();
    runner = await SessionRunner.load(msg.path, msg.inputs, msg.intraOpThreads, msg.seed, msg.handover);
    // Timed before the reply so the engine can decide, from these figures, to run the model inline;
    // a model handed over from the main thread has left it for good.
    const calibration = msg.handover === undefined ? await runner.calibrate() : { loadMs: runner.loadMs, latenciesMs: [], failed: false };
    send({ type: 'loaded', inputNames: runner.inputNames, outputNames: runner.outputNames, calibration, signature: runner.signature() });
  } catch (err) {
    send({ type: 'load-error', message: message(err) });
  }
}

async function run(id: number, capture: boolean): Promise<void> {
  if (runner === null) {
    send({ type: 'result', id, ok: false, latencyMs: null, error: 'no model loaded' });
    return;
  }
  send({ type: 'result', id, ...(await runner.run(capture)) });
}

async function infer(msg: Extract<ToWorker, { type: 'infer' }>): Promise<void> {
  if (runner === null) {
    send({ type: 'inferred', id: msg.id, ok: false, latencyMs: null, error: 'no model loaded' });
    return;
  }
  send({ type: 'inferred', id: msg.id, ...(await runner.infer(msg.inputs)) });
}

async function dispose(): Promise<void> {
  await runner?.release();
  runner = null;
  send({ type: 'disposed' });
}

async function handle(msg: ToWorker): Promise<void> {
  switch (msg.type) {
    case 'load':
      return load(msg);
    case 'run':
      return run(msg.id, msg.capture);
    case 'infer':
      return infer(msg);
    case 'dispose':
      return dispose();
  }
}

parentPort?.on('message', (raw: unknown) => {
  const msg = asToWorker(raw);
  if (msg === null) return;
  // One message at a time: recurrent state must be fed back before the next run starts.
  queue = queue.then(() => handle(msg));
});
