import { readFileSync } from 'node:fs';
import { InputSpecListSchema } from '@edge-fleet/shared';
// The benchmark measures the real agent: its compiled engine and local inference API.
import { silentLogger } from '@edge-fleet/device-agent/dist/core/logger.js';
import { createWorkerEngine } from '@edge-fleet/device-agent/dist/engine/worker-inference.engine.js';
import { LocalInferenceService } from '@edge-fleet/device-agent/dist/serve/local-inference.service.js';

/**
 * The agent's serving stack in a process of its own (its RSS is its own): the engine with its
 * placement rule, the serving slot and the listeners on a Unix socket and loopback TCP.
 * argv: <model.onnx> <inputs.json> <socket> <queueDepth> <threads> [cacheEntries]
 */
const [modelPath, inputsFile, socketPath, queueArg, threadsArg, cacheArg] = process.argv.slice(2);
if (modelPath === undefined || inputsFile === undefined || socketPath === undefined)
  throw new Error('usage: serve-side <model.onnx> <inputs.json> <socket> <queueDepth> <threads>');
const inputs = InputSpecListSchema.parse(JSON.parse(readFileSync(inputsFile, 'utf8')));
const engine = createWorkerEngine({ intraOpThreads: Number(threadsArg ?? '1'), seed: 1 });
await engine.load(modelPath, inputs);
const service = new LocalInferenceService(
  {
    socketPath,
    host: '127.0.0.1',
    port: 0,
    token: null,
    maxBodyBytes: 64 * 1024 * 1024,
    queueDepth: Number(queueArg ?? '64'),
    cacheEntries: Number(cacheArg ?? '0'),
    deadlineMs: 60_000,
  },
  silentLogger,
);
await service.start();
service.setActive(
  engine,
  { name: 'bench', version: '1', variantId: 'bench-fp32', precision: 'fp32', sha256: '0'.repeat(64), inputs },
  'data_analysis_agent',
);
process.send?.({ type: 'ready', placement: engine.placement ?? 'none', port: service.port });
process.on('message', (raw: unknown) => {
  if ((raw as { type?: unknown } | null)?.type === 'rss') process.send?.({ type: 'rss', rssMb: process.memoryUsage().rss / 1_048_576 });
});
