import { createServer, type Server, type Socket } from 'node:net';
import {
  type DesiredState,
  forwardingToken,
  type HybridPlacement,
  OipErrorSchema,
  OipInferResponseSchema,
  type Scenario,
  type TelemetryWindow,
  TelemetryWindowSchema,
  topics,
} from '@edge-fleet/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withInjectedLatency } from './engine/injected-latency.engine.js';
import { createWorkerEngine } from './engine/worker-inference.engine.js';
import { DEFAULT_MAX_BODY_BYTES, type ServeConfig } from './serve/serve.settings.js';
import { AgentFixture } from './test-support/agent.fixture.js';
import { oipRequest } from './test-support/oip.client.js';
import { TestSigner } from './test-support/test-signer.js';

/**
 * Hybrid placement with real agents on the real broker: a cloud node (profile `location: cloud`)
 * serving robotic_manipulation on loopback TCP, and a hybrid device of the same scenario that
 * forwards to it, both running the real MLP on onnxruntime. One signer stands for the control plane.
 */
const SCENARIO: Scenario = 'robotic_manipulation';
const signer = new TestSigner();
const cloud = new AgentFixture({
  dataDirPrefix: 'hybrid-cloud-',
  scenario: SCENARIO,
  preset: 'cloud-cpu-node',
  models: { m: 'mlp' },
  signer,
  secretChar: 'c',
});
const edge = new AgentFixture({
  dataDirPrefix: 'hybrid-edge-',
  scenario: SCENARIO,
  preset: 'robot-npu-arm',
  models: { m: 'mlp' },
  signer,
  secretChar: 'h',
});

/** Extra milliseconds every local run of the hybrid device takes (and reports), to slow its model. */
let slowByMs = 0;
/** The real worker engine, slowed by `slowByMs` (the agent's fault injection): what a throttled or overloaded device looks like to the agent. */
const slowedEngine = withInjectedLatency(createWorkerEngine, () => slowByMs);

const serveOn = (socketPath: string | null, port: number | null, queueDepth = 256): ServeConfig => ({
  socketPath,
  host: '127.0.0.1',
  port,
  token: null,
  maxBodyBytes: DEFAULT_MAX_BODY_BYTES,
  queueDepth,
  deadlineMs: 5_000,
});

let cloudUrl = '';
let cloudPort = 0;
let edgeSocket = '';

function desired(fx: typeof cloud, version: number, withModel: boolean): DesiredState {
  return fx.desired(version, withModel ? 'm' : null, {
    scenario: SCENARIO,
    model: { modelId: 'm-mlp', name: 'classifier', version: '1' },
    runtime: { targetRateHz: 20, windowSeconds: 1 },
  });
}

function placement(o: Partial<HybridPlacement> = {}): HybridPlacement {
  return {
    nodes: [{ deviceId: cloud.deviceId, url: cloudUrl }],
    grant: signer.grant(edge.deviceId, SCENARIO),
    forwardOnLatency: false,
    // above what the fast MLP takes even on a loaded machine, well under the slowed one
    latencyTargetMs: 50,
    ...o,
  };
}

async function publishEdge(version: number, withModel: boolean, hybrid: HybridPlacement): Promise<void> {
  await edge.probe.publish(topics.desired(edge.deviceId), signer.desired(desired(edge, version, withModel), { hybrid }), true);
}

function inferBody(i: number): object {
  const spec = edge.models.m.inputs[0];
  if (spec === undefined) throw new Error('the MLP has no input');
  const n = spec.shape.reduce((a, b) => a * b, 1);
  return {
    id: `r${i}`,
    inputs: [{ name: spec.name, shape: spec.shape, datatype: 'FP32', data: Array.from({ length: n }, (_, k) => Math.sin(i + k)) }],
  };
}

interface Answer {
  status: number;
  executedOn: string | null;
  cloudNode: string | null;
}

async function infer(i: number): Promise<Answer> {
  const res = await oipRequest({ socketPath: edgeSocket }, 'POST', '/v2/models/classifier/infer', inferBody(i));
  if (res.status !== 200) return { status: res.status, executedOn: null, cloudNode: null };
  const p = OipInferResponseSchema.parse(res.json()).parameters ?? {};
  return {
    status: 200,
    executedOn: typeof p.executed_on === 'string' ? p.executed_on : null,
    cloudNode: typeof p.cloud_node === 'string' ? p.cloud_node : null,
  };
}

/** `clients` applications sending requests back to back for `ms`. */
async function traffic(ms: number, clients = 4): Promise<Answer[]> {
  const answers: Answer[] = [];
  const until = Date.now() + ms;
  let i = 0;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (Date.now() < until) answers.push(await infer(i++));
    }),
  );
  return answers;
}

const remoteShare = (answers: readonly Answer[]): number => answers.filter((a) => a.executedOn === 'remote').length / answers.length;

function windowsOf(from: number): TelemetryWindow[] {
  return edge.probe.messages
    .slice(from)
    .filter((m) => m.topic === topics.telemetry(edge.deviceId))
    .map((m) => TelemetryWindowSchema.parse(m.payload));
}

/** Waits for the edge's next telemetry window after message `from`, so every request sent before it has been counted. */
async function nextWindow(): Promise<void> {
  await edge.probe.waitFor((m) => m.topic === topics.telemetry(edge.deviceId), 10_000, edge.probe.messages.length);
}

beforeAll(async () => {
  await cloud.setUp();
  await edge.setUp();
  edgeSocket = `${edge.dataDir}/inference.sock`;
  await cloud.probe.publish(topics.desired(cloud.deviceId), signer.desired(desired(cloud, 1, true)), true);
  const agent = await cloud.startAgent({ serve: serveOn(null, 0), benchmark: false });
  // the cloud node reports its address once its model runs: that is what the control plane names to hybrid devices
  const report = await cloud.nextReport((r) => r.active !== null && r.inferenceUrl !== undefined, 0);
  cloudUrl = report.inferenceUrl ?? '';
  cloudPort = agent.inference?.port ?? 0;
  expect(cloudUrl).toBe(`http://127.0.0.1:${cloudPort}`);
}, 60_000);

afterAll(async () => {
  await edge.tearDown();
  await cloud.tearDown();
});

describe('hybrid placement: a hybrid device forwards to a cloud node', () => {
  it('a cloud node refuses requests without a valid, unexpired grant for its scenario (401/403 in the protocol error shape)', async () => {
    const path = '/v2/models/classifier/infer';
    const forger = new TestSigner();
    const cases: { what: string; token: string | undefined; status: number; says: RegExp }[] = [
      { what: 'missing', token: undefined, status: 401, says: /forwarding grant is required/ },
      { what: 'not a grant', token: 'abc', status: 401, says: /not a forwarding grant/ },
      { what: 'forged', token: forwardingToken(forger.grant(edge.deviceId, SCENARIO)), status: 401, says: /does not verify/ },
      {
        what: 'expired',
        token: forwardingToken(signer.grant(edge.deviceId, SCENARIO, { expiresAt: new Date(Date.now() - 1_000).toISOString() })),
        status: 401,
        says: /expired/,
      },
      {
        what: 'wrong scenario',
        token: forwardingToken(signer.grant(edge.deviceId, 'financial_trading')),
        status: 403,
        says: /scenario "financial_trading"/,
      },
    ];
    for (const c of cases) {
      const res = await oipRequest({ port: cloudPort, ...(c.token === undefined ? {} : { token: c.token }) }, 'POST', path, inferBody(0));
      expect({ what: c.what, status: res.status }).toEqual({ what: c.what, status: c.status });
      expect(OipErrorSchema.parse(res.json()).error).toMatch(c.says);
    }
    const ok = await oipRequest(
      { port: cloudPort, token: forwardingToken(signer.grant(edge.deviceId, SCENARIO)) },
      'POST',
      path,
      inferBody(0),
    );
    expect(ok.status).toBe(200);
  });

  it('with no local model ready, every request is answered by the cloud node, says so, and telemetry counts it as remote', async () => {
    await publishEdge(1, false, placement());
    // a queue of 2: four clients never fill it, eight slowed ones do
    await edge.startAgent({ serve: serveOn(edgeSocket, null, 2), benchmark: false, createEngine: slowedEngine, seed: 3 });
    // the placement arrives with the retained desired state, just after the agent connects
    let first: Answer = { status: 0, executedOn: null, cloudNode: null };
    for (let t = 0; t < 200 && first.status !== 200; t++) {
      first = await infer(t);
      if (first.status !== 200) await new Promise((r) => setTimeout(r, 25));
    }
    const from = edge.probe.messages.length;
    const answers = await traffic(1_500, 2);
    await nextWindow();
    expect(answers.every((a) => a.status === 200 && a.executedOn === 'remote' && a.cloudNode === cloud.deviceId)).toBe(true);
    const windows = windowsOf(from).filter((w) => w.source === 'traffic');
    const remote = windows.reduce((n, w) => n + (w.remote?.inferences ?? 0), 0);
    expect(remote).toBeGreaterThanOrEqual(answers.length);
    expect(windows.reduce((n, w) => n + w.inferences, 0)).toBe(0);
    expect(windows.every((w) => w.fallbacks === (w.remote?.inferences ?? 0))).toBe(true);
    expect(windows.some((w) => (w.remote?.latencyMs?.p50 ?? 0) > 0)).toBe(true);
    // the traffic forwarding costs (M20): every forwarded request body went out, every answer body came back
    const sent = windows.reduce((n, w) => n + (w.remote?.bytesSent ?? 0), 0);
    const received = windows.reduce((n, w) => n + (w.remote?.bytesReceived ?? 0), 0);
    expect(sent).toBeGreaterThanOrEqual(answers.length * 100);
    expect(received).toBeGreaterThanOrEqual(answers.length * 50);
  }, 60_000);

  it('a slowed local model makes the forwarded share rise under the latency rule, and telemetry shows local and remote apart', async () => {
    await publishEdge(2, true, placement({ forwardOnLatency: true }));
    await edge.nextReport((r) => r.active !== null && r.phase === 'running', 0);
    // the first runs after an activation warm the session up; then the fast model answers well within the 50 ms target
    await traffic(500);
    const fast = await traffic(1_500);
    expect(fast.every((a) => a.status === 200)).toBe(true);
    const fastShare = remoteShare(fast);
    slowByMs = 150;
    // from a window boundary on, so no window counted below holds fast-phase requests
    await nextWindow();
    const from = edge.probe.messages.length;
    const slow = await traffic(2_500);
    await nextWindow();
    const slowShare = remoteShare(slow);
    expect(slow.every((a) => a.status === 200)).toBe(true);
    expect(fastShare).toBeLessThan(0.1);
    // every tenth request over budget still runs locally, so the local model stays measured
    expect(slowShare).toBeGreaterThan(0.5);
    const windows = windowsOf(from).filter((w) => w.source === 'traffic');
    const local = windows.reduce((n, w) => n + w.inferences, 0);
    const remote = windows.reduce((n, w) => n + (w.remote?.inferences ?? 0), 0);
    expect(remote / (local + remote)).toBeGreaterThan(0.5);
    // the local latency (what the gates judge) is the slowed model's; the remote round trips are apart
    expect(Math.max(...windows.map((w) => w.latencyMs?.p50 ?? 0))).toBeGreaterThanOrEqual(150);
    expect(windows.some((w) => (w.remote?.latencyMs?.p50 ?? Infinity) < 150)).toBe(true);
  }, 60_000);

  it('a full queue forwards the overflow instead of answering 429, and the overflow is no local error', async () => {
    await publishEdge(3, true, placement({ forwardOnLatency: false }));
    await edge.nextReport((r) => r.appliedAssignmentVersion === 3 && r.phase === 'running', 0);
    const from = edge.probe.messages.length;
    const answers = await traffic(2_000, 8);
    await nextWindow();
    expect(answers.filter((a) => a.status !== 200)).toEqual([]);
    expect(remoteShare(answers)).toBeGreaterThan(0.2);
    expect(answers.some((a) => a.executedOn === 'local')).toBe(true);
    const windows = windowsOf(from).filter((w) => w.source === 'traffic');
    expect(windows.reduce((n, w) => n + (w.remote?.inferences ?? 0), 0)).toBeGreaterThan(0);
    expect(windows.reduce((n, w) => n + w.errors, 0)).toBe(0);
    // the latency rule back on for what follows
    await publishEdge(4, true, placement({ forwardOnLatency: true }));
    await edge.nextReport((r) => r.appliedAssignmentVersion === 4, 0);
  }, 60_000);

  it('row 28: a cloud node killed mid-traffic: local serving continues with zero failed requests, errors counted, no tight loop', async () => {
    const agent = edge.agent;
    if (agent === null) throw new Error('hybrid agent not running');
    let stop = false;
    const answers: Answer[] = [];
    const clients = Array.from({ length: 4 }, async (_, c) => {
      for (let i = 0; !stop; i++) answers.push(await infer(c * 100_000 + i));
    });
    await new Promise((r) => setTimeout(r, 500));
    expect(remoteShare(answers)).toBeGreaterThan(0.5);
    const from = edge.probe.messages.length;
    await cloud.stopAgent();
    // the node is gone; whatever connects to its port from now on is counted and reset
    const attempts: Socket[] = [];
    const counter: Server = createServer((s) => {
      attempts.push(s);
      s.destroy();
    });
    await new Promise<void>((resolve, reject) => {
      counter.once('error', reject);
      counter.listen(cloudPort, '127.0.0.1', resolve);
    });
    const killedAt = answers.length;
    await new Promise((r) => setTimeout(r, 3_000));
    stop = true;
    await Promise.all(clients);
    await nextWindow();
    await new Promise<void>((r) => counter.close(() => r()));
    const after = answers.slice(killedAt);

    expect(answers.filter((a) => a.status !== 200)).toEqual([]);
    expect(after.length).toBeGreaterThan(20);
    expect(after.slice(-10).every((a) => a.executedOn === 'local')).toBe(true);
    // backoff from 0.5 s doubling (jittered): over 3 s a handful of tries, where a tight loop would make one per request
    expect(attempts.length).toBeGreaterThanOrEqual(1);
    expect(attempts.length).toBeLessThanOrEqual(8);
    expect(attempts.length).toBeLessThan(after.length / 4);
    const node = agent.inference?.cloudNodes()[0];
    expect(node?.failuresInRow).toBeGreaterThanOrEqual(2);
    const errors = windowsOf(from).reduce((n, w) => n + (w.remote?.errors ?? 0), 0);
    expect(errors).toBeGreaterThanOrEqual(2);
  }, 60_000);
});
