// Added time per update from child-process vetting: `node scripts/measure-vetting.mjs [repeats]` after `pnpm build`.
// For each model: the vetting (spawn → verdict) and, for scale, the in-worker load + 6 smoke runs that follow it.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { buildConvNet, buildMlpClassifier, floatTensor, GraphBuilder, glorotUniform, mulberry32 } from '@edge-fleet/onnx-builder';
import { vetModelInChild } from '../dist/engine/model-vetting.js';
import { WorkerInferenceEngine } from '../dist/engine/worker-inference.engine.js';

function slow(size = 384, depth = 48) {
  const g = new GraphBuilder('slow_matmul_chain');
  let x = g.input('x', 'float32', [size, size]);
  const w = g.initializer(floatTensor('w', [size, size], glorotUniform(mulberry32(3), size, size)));
  for (let i = 0; i < depth; i++) x = g.op('Tanh', [g.op('MatMul', [x, w])], i === depth - 1 ? { output: 'y' } : {});
  g.output('y', 'float32', [size, size]);
  return { bytes: g.build(), inputs: [{ name: 'x', dtype: 'float32', shape: [size, size], min: -1, max: 1 }] };
}

const repeats = Number(process.argv[2] ?? 10);
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const dir = await mkdtemp(join(tmpdir(), 'vetting-measure-'));
const rows = [];
for (const [name, build] of [
  ['mlp (default)', buildMlpClassifier],
  ['conv', buildConvNet],
  ['slow 48×MatMul 384²', slow],
]) {
  const m = build();
  const path = join(dir, `${name.split(' ')[0]}.onnx`);
  await writeFile(path, m.bytes);
  const total = [],
    load = [],
    run = [],
    serve = [];
  for (let i = 0; i < repeats; i++) {
    const out = await vetModelInChild({ path, inputs: m.inputs, intraOpThreads: 1, seed: 42 });
    if (!out.ok) throw new Error(`${name}: ${out.message}`);
    total.push(out.report.totalMs);
    load.push(out.report.loadMs);
    run.push(median(out.report.latenciesMs.slice(1)));
    const t0 = performance.now();
    const engine = new WorkerInferenceEngine({ intraOpThreads: 1, seed: 42 });
    await engine.load(path, m.inputs);
    for (let r = 0; r < 6; r++) await engine.run();
    serve.push(performance.now() - t0);
    await engine.dispose();
  }
  rows.push({
    model: name,
    bytes: m.bytes.length,
    'vetting total ms (median)': median(total).toFixed(1),
    'vetting max ms': Math.max(...total).toFixed(1),
    'child load ms': median(load).toFixed(1),
    'child run ms': median(run).toFixed(2),
    'worker load+smoke ms (existing)': median(serve).toFixed(1),
  });
}
console.table(rows);
