import type { InputSpec } from '@edge-fleet/shared/schemas';

/** What every model factory returns. */
export interface GeneratedModel {
  /** The `.onnx` file. */
  bytes: Uint8Array;
  /** How to feed the model, with every dynamic dimension fixed. */
  inputs: InputSpec[];
  /** One line for humans: architecture and sizes. */
  description: string;
}

/** Throws unless `value` is an integer in [1, max]; factory options are checked with it. */
export function checkSize(option: string, value: number, max = 65_536): number {
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new RangeError(`${option} must be an integer in [1, ${max}], got ${value}`);
  }
  return value;
}

/** Throws unless `seed` is a 32-bit unsigned integer (what the PRNG consumes). */
export function checkSeed(seed: number): number {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new RangeError(`seed must be an integer in [0, 2^32), got ${seed}`);
  }
  return seed;
}
