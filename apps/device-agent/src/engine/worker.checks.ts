import { isServedTensorMap } from './served-tensor.js';
import type { InferResultMessage, RunResultMessage, ToWorker } from './worker.protocol.js';

/**
 * Hand-written checks of the worker messages, without zod: the worker imports only these (zod and the
 * shared schemas would add ~14 MB to its isolate), and the main thread uses `asRunResult` on every run,
 * where the zod schema cost ~1.6 µs of a ~10 µs inference. worker.checks.spec.ts compares them with the
 * schemas in worker.protocol.ts.
 */

type Fields<T> = Partial<Record<keyof T, unknown>>;

const DTYPES: ReadonlySet<unknown> = new Set(['float32', 'int64', 'int32', 'bool', 'uint8', 'int8']);

function int(v: unknown, min: number, max: number): v is number {
  return Number.isSafeInteger(v) && (v as number) >= min && (v as number) <= max;
}

function keysWithin(o: object, allowed: readonly string[]): boolean {
  return Object.keys(o).every((k) => allowed.includes(k));
}

/** The spec fields the worker relies on; the agent validated the full spec when the desired state arrived. */
function inputSpecs(v: unknown): boolean {
  return (
    Array.isArray(v) &&
    v.length > 0 &&
    v.every((i: unknown) => {
      if (typeof i !== 'object' || i === null) return false;
      const s = i as { name?: unknown; dtype?: unknown; shape?: unknown };
      return (
        typeof s.name === 'string' &&
        s.name !== '' &&
        DTYPES.has(s.dtype) &&
        Array.isArray(s.shape) &&
        s.shape.every((d) => int(d, 1, 1_000_000))
      );
    })
  );
}

function tensorMap(v: unknown): boolean {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  return Object.values(v).every((t: unknown) => {
    if (typeof t !== 'object' || t === null || !keysWithin(t, ['dtype', 'dims', 'data'])) return false;
    const { dtype, dims, data } = t as { dtype?: unknown; dims?: unknown; data?: unknown };
    const typed =
      data instanceof Float32Array ||
      data instanceof BigInt64Array ||
      data instanceof Int32Array ||
      data instanceof Uint8Array ||
      data instanceof Int8Array;
    return DTYPES.has(dtype) && Array.isArray(dims) && dims.every((d) => int(d, 0, Number.MAX_SAFE_INTEGER)) && typed;
  });
}

/** A request from the main thread, or null when it is not one. */
export function asToWorker(raw: unknown): ToWorker | null {
  if (typeof raw !== 'object' || raw === null) return null;
  const m = raw as Fields<Extract<ToWorker, { type: 'load' }> & Extract<ToWorker, { type: 'run' }>>;
  switch (m.type) {
    case 'run':
      return keysWithin(raw, ['type', 'id', 'capture']) && Number.isSafeInteger(m.id) && typeof m.capture === 'boolean'
        ? (raw as ToWorker)
        : null;
    case 'load':
      return keysWithin(raw, ['type', 'path', 'inputs', 'intraOpThreads', 'seed', 'handover']) &&
        (m.handover === undefined || tensorMap(m.handover)) &&
        typeof m.path === 'string' &&
        m.path !== '' &&
        inputSpecs(m.inputs) &&
        int(m.intraOpThreads, 1, 64) &&
        Number.isSafeInteger(m.seed)
        ? (raw as ToWorker)
        : null;
    case 'infer': {
      const inputs = (raw as { inputs?: unknown }).inputs;
      return keysWithin(raw, ['type', 'id', 'inputs']) && Number.isSafeInteger(m.id) && isServedTensorMap(inputs)
        ? (raw as ToWorker)
        : null;
    }
    case 'dispose':
      return keysWithin(raw, ['type']) ? (raw as ToWorker) : null;
    default:
      return null;
  }
}

/**
 * A run result without captured tensors, or null (not a result, malformed, or carrying a capture,
 * which the caller validates with the full schema: it is rare and brings typed arrays across).
 */
export function asRunResult(raw: unknown): RunResultMessage | null {
  if (typeof raw !== 'object' || raw === null) return null;
  const m = raw as Fields<RunResultMessage>;
  if (m.type !== 'result' || m.capture !== undefined || !keysWithin(raw, ['type', 'id', 'ok', 'latencyMs', 'error', 'capture']))
    return null;
  const latencyOk = m.latencyMs === null || (typeof m.latencyMs === 'number' && m.latencyMs >= 0 && Number.isFinite(m.latencyMs));
  const errorOk = m.error === undefined || typeof m.error === 'string';
  return Number.isSafeInteger(m.id) && typeof m.ok === 'boolean' && latencyOk && errorOk ? (raw as RunResultMessage) : null;
}

/** An inference result of the local API, or null; checked by hand because it arrives once per application request. */
export function asInferResult(raw: unknown): InferResultMessage | null {
  if (typeof raw !== 'object' || raw === null) return null;
  const m = raw as Fields<InferResultMessage>;
  if (m.type !== 'inferred' || !keysWithin(raw, ['type', 'id', 'ok', 'latencyMs', 'outputs', 'error'])) return null;
  const latencyOk = m.latencyMs === null || (typeof m.latencyMs === 'number' && m.latencyMs >= 0 && Number.isFinite(m.latencyMs));
  const outputsOk = m.outputs === undefined || isServedTensorMap(m.outputs);
  const errorOk = m.error === undefined || typeof m.error === 'string';
  return Number.isSafeInteger(m.id) && typeof m.ok === 'boolean' && latencyOk && outputsOk && errorOk ? (raw as InferResultMessage) : null;
}
