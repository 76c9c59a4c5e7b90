import type { ChildProcess } from 'node:child_process';
import { createPublicKey, generateKeyPairSync, type KeyObject, randomUUID, sign } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { attr, buildMlpClassifier, type GeneratedModel, GraphBuilder } from '@edge-fleet/onnx-builder';
import { signingKeyCertMessage, type HybridPlacement, type SignedForwardingGrant } from '@edge-fleet/shared';
import { procUsage } from '@edge-fleet/test-utils';
import { z } from 'zod';
import { fmt, summarize } from '../core/stats.js';
import { forkAgentEntry, type AgentEntry } from './support/agent-entry.js';
import { benchArgs, machineLine, out } from './support/report.js';

const Args = z.object({
  runs: z.coerce.number().int().min(50).max(1_000_000).default(2_000),
  seconds: z.coerce.number().min(0.5).max(120).default(3),
  flood: z.coerce.number().int().min(10).max(100_000).default(1_000),
  threads: z.coerce.number().int().min(1).max(64).default(1),
});
const a = benchArgs(
  Args,
  'usage: bench:serve [--runs 2000 (a tenth for the image)] [--seconds 3 per throughput point] [--flood 1000] [--threads 1]',
);

/** 1×3×320×320 float32 image → per-channel mean: almost no compute, so the figure is the transport. */
function buildImageModel(): GeneratedModel {
  const g = new GraphBuilder('image_mean');
  const x = g.input('image', 'float32', [1, 3, 320, 320]);
  g.op('ReduceMean', [x], { attributes: [attr.ints('axes', [2, 3]), attr.int('keepdims', 0)], output: 'mean' });
  g.output('mean', 'float32', [1, 3]);
  return {
    bytes: g.build(),
    inputs: [{ name: 'image', dtype: 'float32', shape: [1, 3, 320, 320], min: 0, max: 1 }],
    description: 'image mean',
  };
}

interface Side {
  child: ChildProcess;
  ready: Record<string, unknown>;
}

function start(script: AgentEntry, args: string[]): Promise<Side> {
  const child = forkAgentEntry(script, args);
  return new Promise((resolve, reject) => {
    child.once('message', (m: unknown) => resolve({ child, ready: m as Record<string, unknown> }));
    child.once('exit', (code) => reject(new Error(`${script} exited with code ${code} before it was ready`)));
  });
}

/** Raw session.run in a bare process (agent-side.js raw mode): the per-run latencies. */
async function raw(modelFile: string, inputsFile: string, runs: number): Promise<number[]> {
  const side = await start('agent-side', ['raw', modelFile, inputsFile, String(a.threads), '1']);
  const latencies = await new Promise<number[]>((resolve) => {
    side.child.once('message', (m: unknown) => resolve((m as { latencies: number[] }).latencies));
    side.child.send({ type: 'block', runs });
  });
  side.child.send({ type: 'exit' });
  return latencies.slice(Math.floor(latencies.length / 10));
}

type Target = { socketPath: string } | { port: number };
interface Call {
  body: Buffer;
  headers: Record<string, string>;
}

const agents = { socket: new Agent({ keepAlive: true, maxSockets: 2_000 }), tcp: new Agent({ keepAlive: true, maxSockets: 2_000 }) };

function post(target: Target, call: Call): Promise<number> {
  return new Promise((resolve, reject) => {
    const where =
      'socketPath' in target
        ? { socketPath: target.socketPath, agent: agents.socket }
        : { host: '127.0.0.1', port: target.port, agent: agents.tcp };
    const req = request(
      {
        ...where,
        method: 'POST',
        path: '/v2/models/bench/infer',
        headers: { ...call.headers, 'content-length': String(call.body.length) },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(call.body);
  });
}

function jsonCall(name: string, shape: number[]): Call {
  const n = shape.reduce((x, y) => x * y, 1);
  const data = Array.from({ length: n }, (_, i) => Math.sin(i));
  return {
    body: Buffer.from(JSON.stringify({ inputs: [{ name, shape, datatype: 'FP32', data }] })),
    headers: { 'content-type': 'application/json' },
  };
}

function binaryCall(name: string, shape: number[]): Call {
  const data = new Float32Array(shape.reduce((x, y) => x * y, 1)).map((_, i) => Math.sin(i));
  const header = Buffer.from(
    JSON.stringify({ inputs: [{ name, shape, datatype: 'FP32', parameters: { binary_data_size: data.byteLength } }] }),
  );
  return {
    body: Buffer.concat([header, Buffer.from(data.buffer)]),
    headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) },
  };
}

async function latencies(target: Target, call: Call, runs: number): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    const status = await post(target, call);
    ms.push(performance.now() - t);
    if (status !== 200) throw new Error(`request answered ${status}`);
  }
  return ms.slice(Math.floor(ms.length / 10));
}

async function throughput(target: Target, call: Call, concurrency: number): Promise<number> {
  let done = 0;
  const until = performance.now() + a.seconds * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) if ((await post(target, call)) === 200) done++;
    }),
  );
  return done / ((performance.now() - started) / 1000);
}

function row(label: string, base: number[], ms: number[]): string {
  const r = summarize(base);
  const s = summarize(ms);
  return `${label.padEnd(34)} p50 ${fmt(s.p50 * 1000, 0).padStart(6)} µs  p99 ${fmt(s.p99 * 1000, 0).padStart(6)} µs   added p50 ${fmt((s.p50 - r.p50) * 1000, 0).padStart(6)} µs  p99 ${fmt((s.p99 - r.p99) * 1000, 0).padStart(6)} µs`;
}

/**
 * A forwarding grant signed the way the control plane signs one (a root key certifying a signing
 * key, Ed25519 over the payload's exact bytes): the cloud node under measurement checks it per request.
 */
function benchGrant(scenario: string, deviceId: string): { rootPublicKey: string; grant: SignedForwardingGrant } {
  const spki = (k: KeyObject): string => createPublicKey(k).export({ type: 'spki', format: 'der' }).toString('base64');
  const root = generateKeyPairSync('ed25519').privateKey;
  const signing = generateKeyPairSync('ed25519').privateKey;
  const now = Date.now();
  const keyExpiresAt = new Date(now + 86_400_000).toISOString();
  const publicKey = spki(signing);
  const payload = Buffer.from(
    JSON.stringify({
      schema: 1,
      kind: 'oip-forward',
      scenario,
      deviceId,
      issuedAt: new Date(now).toISOString(),
      expiresAt: new Date(now + 3_600_000).toISOString(),
    }),
  );
  return {
    rootPublicKey: spki(root),
    grant: {
      payload: payload.toString('base64'),
      signature: sign(null, payload, signing).toString('base64'),
      signingKey: {
        publicKey,
        expiresAt: keyExpiresAt,
        rootSignature: sign(null, Buffer.from(signingKeyCertMessage({ publicKey, expiresAt: keyExpiresAt })), root).toString('base64'),
      },
    },
  };
}

/**
 * Hybrid placement: an application's request to a hybrid device answered by a cloud node over
 * loopback TCP (grant checked, answer re-labelled) vs the same request answered by the device's own
 * session. Both agents are real serving stacks in processes of their own, with the same MLP.
 */
async function hybrid(): Promise<void> {
  const model = buildMlpClassifier({ seed: 1 });
  const modelFile = path.join(dir, 'hybrid.onnx');
  const inputsFile = path.join(dir, 'hybrid.json');
  await writeFile(modelFile, model.bytes);
  await writeFile(inputsFile, JSON.stringify(model.inputs));
  const scenario = 'robotic_manipulation';
  const deviceId = randomUUID();
  const { rootPublicKey, grant } = benchGrant(scenario, deviceId);
  const cloud = await start('serve-side', [
    JSON.stringify({
      model: modelFile,
      inputs: inputsFile,
      socketPath: path.join(dir, 'cloud.sock'),
      threads: a.threads,
      scenario,
      cloudRootPublicKey: rootPublicKey,
    }),
  ]);
  const placement: HybridPlacement = {
    nodes: [{ deviceId: randomUUID(), url: `http://127.0.0.1:${Number(cloud.ready.port)}` }],
    grant,
    forwardOnLatency: false,
    latencyTargetMs: 20,
  };
  const deviceSock = path.join(dir, 'hybrid.sock');
  // no local model yet: every request is forwarded; then `activate` and every request runs locally
  const device = await start('serve-side', [
    JSON.stringify({
      model: modelFile,
      inputs: inputsFile,
      socketPath: deviceSock,
      threads: a.threads,
      scenario,
      activate: false,
      hybrid: placement,
    }),
  ]);
  const call = jsonCall('input', [1, 64]);
  const forwarded = await latencies({ socketPath: deviceSock }, call, a.runs);
  await new Promise<void>((resolve) => {
    device.child.once('message', () => resolve());
    device.child.send({ type: 'activate' });
  });
  const local = await latencies({ socketPath: deviceSock }, call, a.runs);
  out();
  out(`hybrid placement, MLP 1×64 JSON from an application over the device's Unix socket (cloud node: a second agent on loopback TCP):`);
  out(row('  answered by the device itself', local, local));
  out(row('  forwarded to the cloud node', local, forwarded));
  device.child.kill('SIGTERM');
  cloud.child.kill('SIGTERM');
}

out(machineLine());
// figures from a busy machine are the machine's, not the code's: say how busy it was
out(
  `load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')} at start`,
);
out(`runs ${a.runs} per point (first 10% dropped as warm-up), ${a.threads} intra-op thread(s)`);
const dir = await mkdtemp(path.join(tmpdir(), 'ef-bench-serve-'));
const cases = [
  { label: 'MLP 1×64 (JSON-sized)', model: buildMlpClassifier({ seed: 1 }), input: 'input', shape: [1, 64], runs: a.runs },
  // 1.2 M numbers as JSON take ~100 ms a request: a tenth of the runs
  {
    label: 'image 1×3×320×320',
    model: buildImageModel(),
    input: 'image',
    shape: [1, 3, 320, 320],
    runs: Math.max(50, Math.round(a.runs / 10)),
  },
];
for (const c of cases) {
  const modelFile = path.join(dir, `${c.input}.onnx`);
  const inputsFile = path.join(dir, `${c.input}.json`);
  await writeFile(modelFile, c.model.bytes);
  await writeFile(inputsFile, JSON.stringify(c.model.inputs));
  const base = await raw(modelFile, inputsFile, c.runs);
  const socketPath = path.join(dir, `${c.input}.sock`);
  const side = await start('serve-side', [JSON.stringify({ model: modelFile, inputs: inputsFile, socketPath, threads: a.threads })]);
  const tcp = { port: Number(side.ready.port) };
  const sock = { socketPath };
  out();
  out(
    `${c.label}: placement ${String(side.ready.placement)}; raw session.run p50 ${fmt(summarize(base).p50 * 1000, 0)} µs p99 ${fmt(summarize(base).p99 * 1000, 0)} µs`,
  );
  for (const [name, call] of [
    ['JSON', jsonCall(c.input, c.shape)],
    ['binary', binaryCall(c.input, c.shape)],
  ] as const) {
    out(row(`  ${name} over the Unix socket`, base, await latencies(sock, call, c.runs)));
    out(row(`  ${name} over loopback TCP`, base, await latencies(tcp, call, c.runs)));
  }
  if (c.input === 'input') {
    const call = jsonCall(c.input, c.shape);
    const rawRps = 1000 / (base.reduce((x, y) => x + y, 0) / base.length);
    const points: string[] = [];
    for (const n of [1, 4, 16]) points.push(`c=${n}: ${fmt(await throughput(sock, call, n), 0)}/s`);
    out(`  requests/s, JSON over the socket: ${points.join(', ')} (raw session.run back to back: ${fmt(rawRps, 0)}/s)`);
    // the flood: far more concurrent requests than the queue holds; RSS must stay bounded
    const pid = side.child.pid ?? 0;
    let peak = procUsage(pid).rssMb;
    const before = peak;
    const sampler = setInterval(() => (peak = Math.max(peak, procUsage(pid).rssMb)), 20);
    const statuses = await Promise.all(Array.from({ length: a.flood }, () => post(sock, call)));
    clearInterval(sampler);
    const count = (s: number): number => statuses.filter((x) => x === s).length;
    out(
      `  ${a.flood} concurrent requests, queue 64: ${count(200)} answered 200, ${count(429)} refused 429, other ${a.flood - count(200) - count(429)}; agent RSS ${fmt(before, 0)} MB before, peak ${fmt(peak, 0)} MB`,
    );
  }
  side.child.kill('SIGTERM');
  if (c.input === 'input') {
    // the result cache: the same input again and again is answered without a run
    const cachedSock = path.join(dir, 'cached.sock');
    const cached = await start('serve-side', [
      JSON.stringify({ model: modelFile, inputs: inputsFile, socketPath: cachedSock, threads: a.threads, cacheEntries: 1024 }),
    ]);
    out(row('  JSON over the socket, cache hits', base, await latencies({ socketPath: cachedSock }, jsonCall(c.input, c.shape), c.runs)));
    cached.child.kill('SIGTERM');
  }
}
await hybrid();
out();
out(
  `load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')} at the end`,
);
agents.socket.destroy();
agents.tcp.destroy();
