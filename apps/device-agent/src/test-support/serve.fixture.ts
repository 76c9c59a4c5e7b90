import { randomUUID } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DesiredModel, InputSpec, Scenario } from '@edge-fleet/shared';
import { silentLogger } from '../core/logger.js';
import { INLINE_BUDGET, type InlineBudget } from '../engine/inline-placement.js';
import { defaultWorkerUrl, WorkerInferenceEngine } from '../engine/worker-inference.engine.js';
import { LocalInferenceService } from '../serve/local-inference.service.js';
import { DEFAULT_MAX_BODY_BYTES, type ServeConfig } from '../serve/serve.settings.js';
import { sha256 } from './models.js';
import { TestSigner } from './test-signer.js';

const signer = new TestSigner();
const deviceId = randomUUID();

/** An agent's inference API on a Unix socket only (no TCP), with a 10 s deadline: what the agent int tests serve on. */
export function socketServe(socketPath: string, queueDepth = 64): ServeConfig {
  return { socketPath, host: '127.0.0.1', port: null, token: null, maxBodyBytes: DEFAULT_MAX_BODY_BYTES, queueDepth, deadlineMs: 10_000 };
}

/** A budget no run meets: the model stays in the worker thread. */
export const WORKER_ONLY: InlineBudget = { ...INLINE_BUDGET, runMs: 0, warmupCeilingMs: 0 };

export interface ServedModel {
  dir: string;
  path: string;
  engine: WorkerInferenceEngine;
  model: DesiredModel;
}

/** Loads model bytes into a real engine (worker, or inline when it measures fast enough) and names it like a desired state would. */
export async function loadServedModel(
  bytes: Uint8Array,
  inputs: InputSpec[],
  names: { name: string; version?: string; budget?: InlineBudget },
): Promise<ServedModel> {
  const dir = await mkdtemp(join(tmpdir(), 'serve-'));
  const path = join(dir, `${names.name}.onnx`);
  await writeFile(path, bytes);
  const engine = new WorkerInferenceEngine({ intraOpThreads: 1, seed: 1 }, defaultWorkerUrl(), names.budget ?? INLINE_BUDGET);
  await engine.load(path, inputs);
  const model = signer.signed(
    {
      modelId: `m-${names.name}`,
      modelVersionId: `mv-${names.name}`,
      variantId: `var-${names.name}-fp32`,
      name: names.name,
      version: names.version ?? '1.0.0',
      precision: 'fp32',
      artifactUrl: 'http://127.0.0.1:9/a.onnx',
      sha256: sha256(bytes),
      sizeBytes: bytes.length,
      inputs,
    },
    deviceId,
    1,
  );
  return { dir, path, engine, model };
}

/** A started inference service on a fresh socket and a free loopback port. */
export async function startService(
  over: Partial<ServeConfig> = {},
  onCacheHit?: () => void,
): Promise<{ service: LocalInferenceService; config: ServeConfig; socketPath: string; port: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'serve-sock-'));
  const config: ServeConfig = {
    socketPath: join(dir, 'inference.sock'),
    host: '127.0.0.1',
    port: 0,
    token: null,
    maxBodyBytes: DEFAULT_MAX_BODY_BYTES,
    queueDepth: 64,
    deadlineMs: null,
    ...over,
  };
  const service = new LocalInferenceService(config, silentLogger, undefined, onCacheHit);
  await service.start();
  const port = service.port;
  if (config.socketPath === null || port === null) throw new Error('service did not start');
  return { service, config, socketPath: config.socketPath, port };
}

export const SCENARIO: Scenario = 'financial_trading';
