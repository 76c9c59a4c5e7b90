import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildConvNet } from '@edge-fleet/onnx-builder';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forkAgentEntry } from '../bench/support/agent-entry.js';
import { driveTraffic, MAX_IN_FLIGHT } from './device-traffic.js';

const SCENARIO = 'autonomous_driving';
let agent: ChildProcess;
let baseUrl: string;

/** Asks the agent's serving process one thing over IPC and waits for its answer. */
async function ask<T>(type: string): Promise<T> {
  const answer = once(agent, 'message') as Promise<[T]>;
  agent.send({ type });
  return (await answer)[0];
}
const served = async (): Promise<{ ok: number; failed: number }> => {
  const { ok, failed } = await ask<{ ok: number; failed: number }>('served');
  return { ok, failed };
};

// the client is checked against the real agent's serving stack (the agent package's serve-side
// entry point, in its own process), as the serve benchmark does
beforeAll(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'demo-traffic-'));
  const model = buildConvNet({ seed: 1 });
  const file = join(dir, 'convnet.onnx');
  const inputs = join(dir, 'inputs.json');
  await writeFile(file, model.bytes);
  await writeFile(inputs, JSON.stringify(model.inputs));
  const options = { model: file, inputs, socketPath: join(dir, 'inference.sock'), queueDepth: 16, scenario: SCENARIO, activate: false };
  agent = forkAgentEntry('serve-side', [JSON.stringify(options)]);
  const [ready] = (await once(agent, 'message')) as [{ port: number }];
  baseUrl = `http://127.0.0.1:${String(ready.port)}`;
});

afterAll(async () => {
  const exited = once(agent, 'exit');
  agent.kill('SIGTERM');
  await exited;
});

describe('demo traffic client (issue 18)', () => {
  it('waits while the agent has no model, then sends requests of the metadata shapes at the rate, all answered', async () => {
    const stop = new AbortController();
    const run = driveTraffic({ name: 'vehicle', baseUrl, model: SCENARIO, ratePerSecond: 40 }, stop.signal);
    // no model yet: the client polls readiness and sends nothing
    await new Promise((r) => setTimeout(r, 1_200));
    // activated in one IPC round trip, which answers what was served before: nothing
    const idle = await ask<{ ok: number; failed: number }>('activate');
    expect(idle.ok + idle.failed).toBe(0);
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
    // the agent answered every request the client counted; a request the client cut off at the stop
    // (at most MAX_IN_FLIGHT) may still finish in the agent's process and count there
    const agentSide = await served();
    expect(agentSide.failed).toBe(0);
    expect(agentSide.ok - counts.ok).toBeGreaterThanOrEqual(0);
    expect(agentSide.ok - counts.ok).toBeLessThanOrEqual(MAX_IN_FLIGHT);
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
