import { describe, expect, it } from 'vitest';
import { asInferResult, asRunResult, asToWorker } from './worker.checks.js';
import { FromWorkerSchema, ToWorkerSchema } from './worker.protocol.js';

const spec = { name: 'x', dtype: 'float32', shape: [1, 64] };
const load = { type: 'load', path: '/m.onnx', inputs: [spec], intraOpThreads: 1, seed: 7 };

const toWorker: unknown[] = [
  { type: 'run', id: 1, capture: false },
  { type: 'run', id: 2, capture: true },
  { type: 'run', id: 1.5, capture: false },
  { type: 'run', id: 1 },
  { type: 'run', id: 1, capture: 'yes' },
  { type: 'run', id: 1, capture: false, extra: 1 },
  { type: 'run', id: Number.MAX_SAFE_INTEGER + 2, capture: false },
  { type: 'dispose' },
  { type: 'dispose', now: true },
  load,
  { ...load, path: '' },
  { ...load, intraOpThreads: 0 },
  { ...load, intraOpThreads: 65 },
  { ...load, seed: 0.5 },
  { ...load, inputs: [] },
  { ...load, inputs: [{ ...spec, dtype: 'float64' }] },
  { ...load, inputs: [{ ...spec, shape: [0] }] },
  { ...load, inputs: [{ ...spec, name: '' }] },
  { ...load, handover: { h_in: { dtype: 'float32', dims: [1, 16], data: new Float32Array(16) } } },
  { ...load, handover: {} },
  { ...load, handover: { h_in: { dtype: 'float32', dims: [1, 16], data: [0, 1] } } },
  { ...load, handover: { h_in: { dtype: 'float64', dims: [1], data: new Float32Array(1) } } },
  { ...load, handover: { h_in: { dtype: 'float32', dims: [-1], data: new Float32Array(1) } } },
  { ...load, handover: [] },
  { type: 'infer', id: 3, inputs: { x: { type: 'float16', dims: [1, 2], data: new Uint16Array(2) } } },
  { type: 'infer', id: 3, inputs: { x: { type: 'uint64', dims: [1], data: new BigUint64Array(1) } } },
  { type: 'infer', id: 3, inputs: { x: { type: 'string', dims: [1], data: ['a'] } } },
  { type: 'infer', id: 3, inputs: { x: { type: 'float32', dims: [-1], data: new Float32Array(1) } } },
  { type: 'infer', id: 3, inputs: [] },
  { type: 'infer', id: 3, inputs: {}, extra: 1 },
  { type: 'nope' },
  null,
  'run',
  42,
];

const fromWorker: unknown[] = [
  { type: 'result', id: 1, ok: true, latencyMs: 0.01 },
  { type: 'result', id: 1, ok: true, latencyMs: 0.01, error: undefined },
  { type: 'result', id: 1, ok: false, latencyMs: null, error: 'boom' },
  { type: 'result', id: 1, ok: false, latencyMs: null, error: 3 },
  { type: 'result', id: 1, ok: true, latencyMs: -1 },
  { type: 'result', id: 1, ok: true, latencyMs: Number.POSITIVE_INFINITY },
  { type: 'result', id: 1, ok: true, latencyMs: Number.NaN },
  { type: 'result', id: 1, ok: true, latencyMs: '1' },
  { type: 'result', id: 1, ok: 'true', latencyMs: 1 },
  { type: 'result', id: 0.5, ok: true, latencyMs: 1 },
  { type: 'result', ok: true, latencyMs: 1 },
  { type: 'result', id: 1, ok: true, latencyMs: 1, extra: 1 },
  { type: 'result', id: 1, ok: true },
  { type: 'disposed' },
  null,
];

/** A test title for a message with typed arrays (BigInt ones cannot be JSON'd). */
const title = (m: unknown): string => JSON.stringify(m, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)) ?? String(m);

const inferred: unknown[] = [
  { type: 'inferred', id: 1, ok: true, latencyMs: 0.2, outputs: { y: { type: 'float64', dims: [1], data: new Float64Array(1) } } },
  { type: 'inferred', id: 1, ok: false, latencyMs: null, error: 'boom' },
  { type: 'inferred', id: 1, ok: true, latencyMs: -1 },
  { type: 'inferred', id: 1, ok: true, latencyMs: 1, outputs: { y: { type: 'float64', dims: [1], data: [1] } } },
  { type: 'inferred', id: 1, ok: true, latencyMs: 1, extra: 1 },
  { type: 'result', id: 1, ok: true, latencyMs: 0.01 },
];

describe('hand checks of the worker messages', () => {
  it.each(toWorker.map((m) => [title(m), m]))('asToWorker agrees with ToWorkerSchema on %s', (_, msg) => {
    expect(asToWorker(msg) !== null).toBe(ToWorkerSchema.safeParse(msg).success);
  });

  it.each(fromWorker.map((m) => [JSON.stringify(m) ?? String(m), m]))('asRunResult agrees with FromWorkerSchema on %s', (_, msg) => {
    const isResult = typeof msg === 'object' && msg !== null && (msg as { type?: unknown }).type === 'result';
    expect(asRunResult(msg) !== null).toBe(isResult && FromWorkerSchema.safeParse(msg).success);
  });

  it.each(inferred.map((m) => [title(m), m]))('asInferResult agrees with FromWorkerSchema on %s', (_, msg) => {
    const isInferred = typeof msg === 'object' && msg !== null && (msg as { type?: unknown }).type === 'inferred';
    expect(asInferResult(msg) !== null).toBe(isInferred && FromWorkerSchema.safeParse(msg).success);
  });

  it('leaves results that carry captured tensors to the full schema', () => {
    const capture = { inputs: {}, outputs: { y: { dtype: 'float32', dims: [1], data: new Float32Array(1) } } };
    const msg = { type: 'result', id: 1, ok: true, latencyMs: 0.1, capture };
    expect(asRunResult(msg)).toBeNull();
    expect(FromWorkerSchema.safeParse(msg).success).toBe(true);
  });
});
