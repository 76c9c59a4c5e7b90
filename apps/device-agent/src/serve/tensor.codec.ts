import { float16BitsToFloat32, float32ToFloat16Bits, type OipDatatype } from '@edge-fleet/shared';
import type { ServedData, ServedTensor, ServedType } from '../engine/served-tensor.js';

import { BadRequest } from './serve.errors.js';

interface Codec {
  type: ServedType;
  bytes: number;
  /** Lowest and highest JSON value an integer type takes; null for floats and BOOL. */
  range: readonly [number, number] | null;
  view(buffer: ArrayBuffer, n: number): ServedData;
}

const CODECS: Record<OipDatatype, Codec> = {
  BOOL: { type: 'bool', bytes: 1, range: null, view: (b, n) => new Uint8Array(b, 0, n) },
  UINT8: { type: 'uint8', bytes: 1, range: [0, 255], view: (b, n) => new Uint8Array(b, 0, n) },
  UINT16: { type: 'uint16', bytes: 2, range: [0, 65_535], view: (b, n) => new Uint16Array(b, 0, n) },
  UINT32: { type: 'uint32', bytes: 4, range: [0, 4_294_967_295], view: (b, n) => new Uint32Array(b, 0, n) },
  UINT64: { type: 'uint64', bytes: 8, range: [0, Number.MAX_SAFE_INTEGER], view: (b, n) => new BigUint64Array(b, 0, n) },
  INT8: { type: 'int8', bytes: 1, range: [-128, 127], view: (b, n) => new Int8Array(b, 0, n) },
  INT16: { type: 'int16', bytes: 2, range: [-32_768, 32_767], view: (b, n) => new Int16Array(b, 0, n) },
  INT32: { type: 'int32', bytes: 4, range: [-2_147_483_648, 2_147_483_647], view: (b, n) => new Int32Array(b, 0, n) },
  INT64: { type: 'int64', bytes: 8, range: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER], view: (b, n) => new BigInt64Array(b, 0, n) },
  FP16: { type: 'float16', bytes: 2, range: null, view: (b, n) => new Uint16Array(b, 0, n) },
  FP32: { type: 'float32', bytes: 4, range: null, view: (b, n) => new Float32Array(b, 0, n) },
  FP64: { type: 'float64', bytes: 8, range: null, view: (b, n) => new Float64Array(b, 0, n) },
};

const BY_TYPE = new Map<string, OipDatatype>(Object.entries(CODECS).map(([dt, c]) => [c.type, dt as OipDatatype]));

export function isOipDatatype(v: string): v is OipDatatype {
  return Object.hasOwn(CODECS, v);
}

/** The protocol's name of an onnxruntime type, or null when the API cannot carry it (strings, maps). */
export function oipDatatypeOf(ortType: string): OipDatatype | null {
  return BY_TYPE.get(ortType) ?? null;
}

export function servedTypeOf(datatype: OipDatatype): ServedType {
  return CODECS[datatype].type;
}

export function byteSize(datatype: OipDatatype, elements: number): number {
  return CODECS[datatype].bytes * elements;
}

/** Binary tensor extension: little-endian, row-major, no padding; copied so the typed array is aligned and owned. */
export function fromBinary(name: string, datatype: OipDatatype, shape: readonly number[], bytes: Uint8Array): ServedTensor {
  const codec = CODECS[datatype];
  const n = elements(shape);
  if (bytes.length !== n * codec.bytes)
    throw new BadRequest(
      `input ${name}: binary_data_size ${bytes.length} does not match shape [${shape.join(', ')}] of ${datatype} (${n * codec.bytes} bytes)`,
    );
  const buffer = new ArrayBuffer(bytes.length);
  new Uint8Array(buffer).set(bytes);
  return { type: codec.type, dims: [...shape], data: codec.view(buffer, n) };
}

/** JSON `data`: flat or nested arrays in row-major order; every element checked against the datatype. */
export function fromJson(name: string, datatype: OipDatatype, shape: readonly number[], data: unknown): ServedTensor {
  const codec = CODECS[datatype];
  const n = elements(shape);
  const values = flatten(name, data, n);
  const out = codec.view(new ArrayBuffer(n * codec.bytes), n);
  for (let i = 0; i < n; i++) writeValue(out, i, values[i], codec, datatype, name);
  return { type: codec.type, dims: [...shape], data: out };
}

function writeValue(out: ServedData, i: number, v: unknown, codec: Codec, datatype: OipDatatype, name: string): void {
  if (datatype === 'BOOL') {
    if (typeof v !== 'boolean') throw new BadRequest(`input ${name}: element ${i} is ${describe(v)}, BOOL needs true or false`);
    out[i] = v ? 1 : 0;
    return;
  }
  if (typeof v !== 'number') throw new BadRequest(`input ${name}: element ${i} is ${describe(v)}, ${datatype} needs a number`);
  if (codec.range !== null && (!Number.isInteger(v) || v < codec.range[0] || v > codec.range[1]))
    throw new BadRequest(`input ${name}: element ${i} (${v}) is not an integer within the range of ${datatype}`);
  if (out instanceof BigInt64Array || out instanceof BigUint64Array) out[i] = BigInt(v);
  else out[i] = datatype === 'FP16' ? float32ToFloat16Bits(v) : v;
}

/** Row-major flattening of nested arrays; stops as soon as there are more elements than the shape holds. */
function flatten(name: string, data: unknown, expected: number): unknown[] {
  if (!Array.isArray(data)) throw new BadRequest(`input ${name}: data must be an array (or binary_data_size given)`);
  if (!data.some(Array.isArray)) {
    if (data.length !== expected) throw countMismatch(name, data.length, expected);
    return data;
  }
  const flat: unknown[] = [];
  const stack: { items: unknown[]; at: number }[] = [{ items: data, at: 0 }];
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    if (top === undefined || top.at >= top.items.length) {
      stack.pop();
      continue;
    }
    const item = top.items[top.at++];
    if (Array.isArray(item)) {
      if (stack.length >= 16) throw new BadRequest(`input ${name}: data is nested deeper than any tensor rank`);
      stack.push({ items: item, at: 0 });
    } else {
      flat.push(item);
      if (flat.length > expected) throw countMismatch(name, `more than ${expected}`, expected);
    }
  }
  if (flat.length !== expected) throw countMismatch(name, flat.length, expected);
  return flat;
}

function countMismatch(name: string, got: number | string, expected: number): BadRequest {
  return new BadRequest(`input ${name}: data has ${got} elements, the shape needs ${expected}`);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  return typeof v === 'string' ? `the string "${v.slice(0, 20)}"` : typeof v;
}

export function elements(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** JSON `data` of an output: numbers (64-bit integers beyond 2^53 lose precision, as in any JSON client), booleans for BOOL. */
export function toJsonData(t: ServedTensor): (number | boolean)[] {
  const { data } = t;
  if (t.type === 'bool') return Array.from(data as Uint8Array, (v) => v !== 0);
  if (t.type === 'float16') return Array.from(data as Uint16Array, float16BitsToFloat32);
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) return Array.from(data, Number);
  return Array.from(data);
}

export function toBinary(t: ServedTensor): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}
