#!/usr/bin/env node
// Loads an uploaded ONNX file in onnxruntime-node inside this child process (so a hostile or
// broken file can crash only the child), reads its graph inputs/outputs, and — given an input
// spec — runs one inference with inputs generated from the spec to prove the spec fits the model.
// Usage: inspect-onnx.mjs <model.onnx> [<inputs.json> [<calibration.json>]]; prints one JSON line.
// Calibration data, when given, is checked against the spec with the variant builder's own parser.
import { readFile } from 'node:fs/promises';
import { percentile } from '@edge-fleet/shared/stats';
import ort from 'onnxruntime-node';

const CTOR = { float32: Float32Array, int64: BigInt64Array, int32: Int32Array, bool: Uint8Array, uint8: Uint8Array, int8: Int8Array };

function tensorFor(spec) {
  const n = spec.shape.reduce((a, b) => a * b, 1);
  const Ctor = CTOR[spec.dtype];
  const data = new Ctor(n);
  const lo = spec.min ?? 0;
  const hi = spec.max ?? 1;
  for (let i = 0; i < n; i++) {
    const v = lo + (((i * 7919) % 997) / 997) * (hi - lo);
    data[i] = spec.dtype === 'int64' ? BigInt(Math.floor(v)) : spec.dtype === 'float32' ? v : Math.floor(v);
  }
  return new ort.Tensor(spec.dtype, data, spec.shape);
}

function describe(meta) {
  return meta.map((m) =>
    m.isTensor
      ? { name: m.name, type: m.type, shape: m.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : String(d))) }
      : { name: m.name, type: 'non-tensor', shape: [] },
  );
}

const TIMED_RUNS = 20;

async function main() {
  const [modelPath, specPath, calibrationPath] = process.argv.slice(2);
  let session;
  const bytes = await readFile(modelPath);
  // Weights in external files cannot come with an upload (and their paths are not ours to open).
  const { decodeModel, checkModel } = await import('@edge-fleet/onnx-quant');
  try {
    checkModel(decodeModel(bytes), { min: 1, max: 1000 });
  } catch (e) {
    if (e?.code === 'external_data')
      return {
        ok: false,
        stage: 'check',
        message: `the model keeps weights in external data files, which an upload cannot carry: ${e.message}`,
      };
  }
  const loadStart = process.hrtime.bigint();
  try {
    session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1 });
  } catch (e) {
    return { ok: false, stage: 'load', message: String(e?.message ?? e).split('\n')[0] };
  }
  const loadMs = Number(process.hrtime.bigint() - loadStart) / 1e6;
  const graph = { inputs: describe(session.inputMetadata), outputs: describe(session.outputMetadata) };
  if (!specPath) return { ok: true, graph };
  const specs = JSON.parse(await readFile(specPath, 'utf8'));
  if (calibrationPath) {
    const { parseSuppliedInputs } = await import('@edge-fleet/onnx-quant');
    try {
      const set = parseSuppliedInputs(JSON.parse(await readFile(calibrationPath, 'utf8')), specs);
      if (set.samples.length === 0) throw new Error('calibration data has no samples');
    } catch (e) {
      return {
        ok: false,
        stage: 'calibration',
        graph: { inputs: describe(session.inputMetadata), outputs: describe(session.outputMetadata) },
        message: String(e?.message ?? e),
      };
    }
  }
  const feeds = {};
  for (const s of specs) feeds[s.name] = tensorFor(s);
  try {
    const out = await session.run(feeds); // warm-up, and the proof that the spec fits
    const outputs = Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.dims]));
    const times = [];
    for (let i = 0; i < TIMED_RUNS; i++) {
      const t0 = process.hrtime.bigint();
      await session.run(feeds);
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    times.sort((a, b) => a - b);
    const latency = { p50: percentile(times, 50), p95: percentile(times, 95), p99: percentile(times, 99) };
    return { ok: true, graph, run: { latencyMs: latency.p50, loadMs, latency, runs: TIMED_RUNS, outputs } };
  } catch (e) {
    return { ok: false, stage: 'run', graph, message: String(e?.message ?? e).split('\n')[0] };
  }
}

main().then(
  (r) => process.stdout.write(`${JSON.stringify(r)}\n`),
  (e) => process.stdout.write(`${JSON.stringify({ ok: false, stage: 'internal', message: String(e?.message ?? e) })}\n`),
);
