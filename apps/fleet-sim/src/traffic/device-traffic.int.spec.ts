import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildConvNet } from '@edge-fleet/onnx-builder';
// the client is checked against the real agent's compiled serving stack, as the serve benchmark does
import { silentLogger } from '@edge-fleet/device-agent/dist/core/logger.js';
import { createWorkerEngine } from '@edge-fleet/device-agent/dist/engine/worker-inference.engine.js';
import { LocalInferenceService } from '@edge-fleet/device-agent/dist/serve/local-inference.service.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { driveTraffic } from './device-traffic.js';

const SCENARIO = 'autonomous_driving';
const served: { ok: number; failed: number } = { ok: 0, failed: 0 };
let service: LocalInferenceService;
let baseUrl: string;
const engine = createWorkerEngine({ intraOpThreads: 1, seed: 1 });

beforeAll(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'demo-traffic-'));
  service = new LocalInferenceService(
    {
      socketPath: join(dir, 'inference.sock'),
      host: '127.0.0.1',
      port: 0,
      token: null,
      maxBodyBytes: 1 << 20,
      queueDepth: 16,
      cacheEntries: 0,
      deadlineMs: 10_000,
    },
    silentLogger,
    (r) => (r.ok ? served.ok++ : served.failed++),
  );
  await service.start();
  baseUrl = `http://127.0.0.1:${String(service.port)}`;
  const model = buildConvNet({ seed: 1 });
  const file = join(dir, 'convnet.onnx');
  await writeFile(file, model.bytes);
  await engine.load(file, model.inputs);
});

afterAll(async () => {
  await service.stop();
  await engine.dispose();
});

describe('demo traffic client (issue 18)', () => {
  it('waits while the agent has no model, then sends requests of the metadata shapes at the rate, all answered', async () => {
    const stop = new AbortController();
    const run = driveTraffic({ name: 'vehicle', baseUrl, model: SCENARIO, ratePerSecond: 40 }, stop.signal);
    // no model yet: the client polls readiness and sends nothing
    await new Promise((r) => setTimeout(r, 1_200));
    expect(served.ok + served.failed).toBe(0);
    const model = buildConvNet({ seed: 1 });
    service.setActive(
      engine,
      { name: 'demo-convnet', version: '1.0.0', variantId: 'v-fp32', precision: 'fp32', sha256: '0'.repeat(64), inputs: model.inputs },
      SCENARIO,
    );
    const started = Date.now();
    await new Promise((r) => setTimeout(r, 3_000));
    stop.abort();
    const counts = await run;
    const seconds = (Date.now() - started) / 1000;
    expect(counts.failed).toBe(0);
    expect(counts.refused).toBe(0);
    // the first second may go to noticing readiness; after that the rate holds
    expect(counts.ok).toBeGreaterThanOrEqual(Math.floor((seconds - 1.2) * 40));
    expect(counts.ok).toBeLessThanOrEqual(Math.ceil(seconds * 40) + 1);
    expect(served).toEqual({ ok: counts.ok, failed: 0 });
  });

  it('stops promptly when aborted while the agent is unreachable', async () => {
    const stop = new AbortController();
    const run = driveTraffic({ name: 'gone', baseUrl: 'http://127.0.0.1:9', model: SCENARIO, ratePerSecond: 10 }, stop.signal);
    await new Promise((r) => setTimeout(r, 300));
    const at = Date.now();
    stop.abort();
    expect(await run).toEqual({ ok: 0, refused: 0, failed: 0, skipped: 0 });
    expect(Date.now() - at).toBeLessThan(500);
  });

  it('does not count requests it cut off itself when stopped as failures, and keeps at most 4 open', async () => {
    // an agent whose model never answers: every request stays open until the client stops
    const held = new Set<() => void>();
    const slow = createServer((req, res) => {
      if (req.url?.endsWith('/infer')) return held.add(() => res.destroy());
      const meta = { name: SCENARIO, platform: 'onnx_onnxv1', inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4] }], outputs: [] };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(req.url?.endsWith('/ready') ? { ready: true } : meta));
    });
    await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
    const address = slow.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    const stop = new AbortController();
    const run = driveTraffic(
      { name: 'stuck', baseUrl: `http://127.0.0.1:${String(port)}`, model: SCENARIO, ratePerSecond: 50 },
      stop.signal,
    );
    await new Promise((r) => setTimeout(r, 500));
    expect(held.size).toBe(4);
    stop.abort();
    const counts = await run;
    expect(counts).toMatchObject({ ok: 0, refused: 0, failed: 0 });
    expect(counts.skipped).toBeGreaterThan(10);
    for (const close of held) close();
    slow.closeAllConnections();
    await new Promise((r) => slow.close(r));
  });
});
