import { mulberry32 } from '@edge-fleet/shared/random';
import type { InputSpec, TensorDtype } from '@edge-fleet/shared';

export type TensorData = Float32Array | BigInt64Array | Int32Array | Uint8Array | Int8Array;

/** A tensor as plain data, independent of onnxruntime so it can cross a worker boundary and be unit-tested. */
export interface TensorValue {
  dtype: TensorDtype;
  dims: number[];
  data: TensorData;
}

/** Seeded, replayable workloads (mulberry32, shared). */
export const createPrng: (seed: number) => () => number = mulberry32;

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Value range per dtype when the spec gives none (inclusive for integers). */
const DEFAULT_RANGE: Record<TensorDtype, readonly [number, number]> = {
  float32: [-1, 1],
  int64: [0, 9],
  int32: [0, 9],
  bool: [0, 1],
  uint8: [0, 255],
  int8: [-128, 127],
};

const DTYPE_LIMITS: Record<TensorDtype, readonly [number, number]> = {
  float32: [-3.4e38, 3.4e38],
  int64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  int32: [-2_147_483_648, 2_147_483_647],
  bool: [0, 1],
  uint8: [0, 255],
  int8: [-128, 127],
};

export function valueRange(spec: Pick<InputSpec, 'dtype' | 'min' | 'max'>): [number, number] {
  const [dmin, dmax] = DEFAULT_RANGE[spec.dtype];
  const [lmin, lmax] = DTYPE_LIMITS[spec.dtype];
  const lo = Math.max(lmin, spec.min ?? dmin);
  const hi = Math.min(lmax, spec.max ?? dmax);
  return lo <= hi ? [lo, hi] : [hi, lo];
}

export function allocate(dtype: TensorDtype, n: number): TensorData {
  switch (dtype) {
    case 'float32':
      return new Float32Array(n);
    case 'int64':
      return new BigInt64Array(n);
    case 'int32':
      return new Int32Array(n);
    case 'bool':
    case 'uint8':
      return new Uint8Array(n);
    case 'int8':
      return new Int8Array(n);
  }
}

/** Fills a tensor for `spec` with values drawn uniformly from its range (integers inclusive). */
export function generateInput(spec: InputSpec, rand: () => number): TensorValue {
  const n = elementCount(spec.shape);
  const data = allocate(spec.dtype, n);
  const [lo, hi] = valueRange(spec);
  if (data instanceof Float32Array) {
    for (let i = 0; i < n; i++) data[i] = lo + (hi - lo) * rand();
  } else if (data instanceof BigInt64Array) {
    const lo2 = Math.ceil(lo);
    const span = Math.floor(hi) - lo2 + 1;
    for (let i = 0; i < n; i++) data[i] = BigInt(lo2 + Math.floor(rand() * span));
  } else {
    const lo2 = Math.ceil(lo);
    const span = Math.floor(hi) - lo2 + 1;
    for (let i = 0; i < n; i++) data[i] = lo2 + Math.floor(rand() * span);
  }
  return { dtype: spec.dtype, dims: [...spec.shape], data };
}

export function zeroInput(spec: InputSpec): TensorValue {
  return { dtype: spec.dtype, dims: [...spec.shape], data: allocate(spec.dtype, elementCount(spec.shape)) };
}

/**
 * Produces the feeds for each run: fresh random values for ordinary inputs, and for inputs with
 * `stateFrom` the named output of the previous run (zeros before the first run).
 */
export class FeedGenerator {
  private readonly rand: () => number;
  private readonly state = new Map<string, TensorValue>();

  constructor(
    private readonly specs: readonly InputSpec[],
    seed: number,
  ) {
    this.rand = createPrng(seed);
    for (const s of specs) if (s.stateFrom !== undefined) this.state.set(s.name, zeroInput(s));
  }

  next(): Map<string, TensorValue> {
    const feeds = new Map<string, TensorValue>();
    for (const s of this.specs) {
      const held = this.state.get(s.name);
      feeds.set(s.name, held ?? generateInput(s, this.rand));
    }
    return feeds;
  }

  /** The recurrent state the next run would be fed, to hand a model over to another thread. */
  heldState(): Record<string, TensorValue> {
    return Object.fromEntries(this.state);
  }

  /** Continues from state handed over by `heldState` (values for unknown or stateless inputs are ignored). */
  resume(state: Readonly<Record<string, TensorValue>>): void {
    for (const [name, value] of Object.entries(state)) if (this.state.has(name)) this.state.set(name, value);
  }

  /** Feeds recurrent outputs back; returns the names of state outputs that were missing. */
  absorb(outputs: ReadonlyMap<string, TensorValue>): string[] {
    const missing: string[] = [];
    for (const s of this.specs) {
      if (s.stateFrom === undefined) continue;
      const out = outputs.get(s.stateFrom);
      if (out === undefined) missing.push(s.stateFrom);
      else this.state.set(s.name, out);
    }
    return missing;
  }
}
