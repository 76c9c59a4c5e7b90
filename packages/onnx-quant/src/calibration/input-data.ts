/**
 * Calibration and evaluation inputs: generated from the InputSpec list with a fixed seed, or
 * supplied by the caller as JSON `{ "<input name>": number[][] }` (one flat, row-major array
 * per sample; every input must have the same number of samples).
 */
import { mulberry32 } from '@edge-fleet/onnx-builder';
import type { InputSpec, TensorDtype } from '@edge-fleet/shared/schemas';
import { OnnxQuantError } from '../errors.js';

/** The data of one input in one sample, in the typed array onnxruntime expects for its dtype. */
export type InputData = Float32Array | BigInt64Array | Int32Array | Uint8Array | Int8Array;

/** One inference's inputs by name. */
export type Sample = Record<string, InputData>;

/** A set of samples and where it came from (recorded in the build report). */
export interface InputSet {
  source: 'generated' | 'supplied';
  /** The PRNG seed (mulberry32) for generated sets. */
  seed?: number;
  samples: Sample[];
}

/** Seed of generated calibration inputs. */
export const CALIBRATION_SEED = 0x5eed;
/** Seed of generated evaluation inputs: a different seed, so agreement is measured on held-out data. */
export const EVALUATION_SEED = 0xe7a1;

function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function fromNumbers(dtype: TensorDtype, values: ArrayLike<number>): InputData {
  switch (dtype) {
    case 'float32':
      return Float32Array.from(values);
    case 'int64':
      return BigInt64Array.from(Array.from(values, (v) => BigInt(v)));
    case 'int32':
      return Int32Array.from(values);
    case 'uint8':
    case 'bool':
      return Uint8Array.from(values);
    case 'int8':
      return Int8Array.from(values);
  }
}

/** One generated value per element: uniform in [min, max] (integers inclusive for integer types). */
function generateOne(spec: InputSpec, random: () => number): InputData {
  const count = elementCount(spec.shape);
  if (spec.dtype === 'float32') {
    const lo = spec.min ?? -1;
    const hi = spec.max ?? 1;
    return fromNumbers(
      'float32',
      Array.from({ length: count }, () => lo + (hi - lo) * random()),
    );
  }
  const lo = Math.ceil(spec.dtype === 'bool' ? 0 : (spec.min ?? 0));
  const hi = Math.floor(spec.dtype === 'bool' ? 1 : (spec.max ?? 9));
  return fromNumbers(
    spec.dtype,
    Array.from({ length: count }, () => lo + Math.floor(random() * (hi - lo + 1))),
  );
}

/** `count` samples drawn with mulberry32(`seed`). */
export function generateInputs(specs: readonly InputSpec[], count: number, seed: number): InputSet {
  const random = mulberry32(seed);
  const samples: Sample[] = [];
  for (let s = 0; s < count; s += 1) {
    const sample: Sample = {};
    for (const spec of specs) sample[spec.name] = generateOne(spec, random);
    samples.push(sample);
  }
  return { source: 'generated', seed, samples };
}

function fail(message: string): never {
  throw new OnnxQuantError('invalid_calibration_data', message);
}

function checkValues(spec: InputSpec, index: number, values: unknown): number[] {
  const need = elementCount(spec.shape);
  if (!Array.isArray(values)) fail(`input "${spec.name}": sample ${index} is not an array of numbers`);
  if (values.length !== need) {
    fail(`input "${spec.name}": sample ${index} has ${values.length} values, shape [${spec.shape.join(', ')}] needs ${need}`);
  }
  const integer = spec.dtype !== 'float32';
  const bad = values.findIndex((v) => typeof v !== 'number' || !Number.isFinite(v) || (integer && !Number.isInteger(v)));
  if (bad >= 0) fail(`input "${spec.name}": sample ${index} value ${bad} is not a finite ${integer ? 'integer' : 'number'}`);
  return values as number[];
}

/** Validates caller-supplied data against the specs; errors name the input and sample. */
export function parseSuppliedInputs(json: unknown, specs: readonly InputSpec[]): InputSet {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    fail('calibration data must be a JSON object { "<input name>": number[][] }');
  }
  const data = json as Record<string, unknown>;
  const extra = Object.keys(data).filter((k) => !specs.some((s) => s.name === k));
  if (extra.length) fail(`calibration data has unknown input(s): ${extra.join(', ')}`);
  const counts = specs.map((spec) => {
    const list = data[spec.name];
    if (!Array.isArray(list) || list.length === 0) fail(`input "${spec.name}": no samples (expected a non-empty number[][])`);
    return list.length;
  });
  const count = counts[0] ?? 0;
  if (counts.some((c) => c !== count)) fail(`every input needs the same number of samples, got ${counts.join(', ')}`);
  const samples: Sample[] = Array.from({ length: count }, () => ({}));
  for (const spec of specs) {
    const list = data[spec.name] as unknown[];
    list.forEach((values, i) => {
      const sample = samples[i];
      if (sample) sample[spec.name] = fromNumbers(spec.dtype, checkValues(spec, i, values));
    });
  }
  return { source: 'supplied', samples };
}
