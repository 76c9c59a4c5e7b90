/** Protobuf wire types (https://protobuf.dev/programming-guides/encoding/#structure). */
export const WireType = {
  varint: 0,
  fixed64: 1,
  lengthDelimited: 2,
  fixed32: 5,
} as const;
export type WireType = (typeof WireType)[keyof typeof WireType];

const textEncoder = new TextEncoder();
const UINT64_MASK = (1n << 64n) - 1n;

/**
 * Encodes an integer as a protobuf base-128 varint. Negative values take the
 * ten-byte two's-complement form that `int32`/`int64` fields use.
 */
export function encodeVarint(value: number | bigint): Uint8Array {
  if (typeof value === 'number' && !Number.isSafeInteger(value)) {
    throw new RangeError(`varint value must be a safe integer, got ${value}`);
  }
  let v = BigInt(value);
  if (v < -(1n << 63n) || v > UINT64_MASK) {
    throw new RangeError(`varint value ${v} does not fit in 64 bits`);
  }
  v &= UINT64_MASK;
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return Uint8Array.from(out);
}

/** Appends protobuf fields to a growing buffer; `finish()` returns the message bytes. */
export class ProtoWriter {
  private readonly chunks: Uint8Array[] = [];
  private length = 0;

  /** Writes raw bytes with no tag. */
  raw(bytes: Uint8Array): this {
    this.chunks.push(bytes);
    this.length += bytes.length;
    return this;
  }

  /** Writes a field key: `(field << 3) | wireType`. */
  tag(field: number, wireType: WireType): this {
    if (!Number.isInteger(field) || field < 1 || field > 0x1fffffff) {
      throw new RangeError(`invalid protobuf field number ${field}`);
    }
    return this.raw(encodeVarint(field * 8 + wireType));
  }

  /** A varint field (`int32`, `int64`, `uint64`, `bool`, enums). */
  varint(field: number, value: number | bigint): this {
    return this.tag(field, WireType.varint).raw(encodeVarint(value));
  }

  /** A length-delimited field holding raw bytes or an encoded sub-message. */
  bytes(field: number, value: Uint8Array): this {
    return this.tag(field, WireType.lengthDelimited).raw(encodeVarint(value.length)).raw(value);
  }

  /** A UTF-8 `string` field. */
  string(field: number, value: string): this {
    return this.bytes(field, textEncoder.encode(value));
  }

  /** A sub-message field, encoded by `write` into a fresh writer. */
  message(field: number, write: (w: ProtoWriter) => void): this {
    const inner = new ProtoWriter();
    write(inner);
    return this.bytes(field, inner.finish());
  }

  /** A `float` field (fixed32, little-endian IEEE 754). */
  float(field: number, value: number): this {
    const buf = new Uint8Array(4);
    new DataView(buf.buffer).setFloat32(0, value, true);
    return this.tag(field, WireType.fixed32).raw(buf);
  }

  /** A `fixed32` field (unsigned, little-endian). */
  fixed32(field: number, value: number): this {
    const buf = new Uint8Array(4);
    new DataView(buf.buffer).setUint32(0, value, true);
    return this.tag(field, WireType.fixed32).raw(buf);
  }

  /** A `double` field (fixed64, little-endian IEEE 754). */
  double(field: number, value: number): this {
    const buf = new Uint8Array(8);
    new DataView(buf.buffer).setFloat64(0, value, true);
    return this.tag(field, WireType.fixed64).raw(buf);
  }

  /** A `fixed64` field (unsigned, little-endian). */
  fixed64(field: number, value: bigint): this {
    const buf = new Uint8Array(8);
    new DataView(buf.buffer).setBigUint64(0, BigInt.asUintN(64, value), true);
    return this.tag(field, WireType.fixed64).raw(buf);
  }

  /** A packed repeated varint field; writes nothing for an empty list (proto3 default). */
  packedVarints(field: number, values: readonly (number | bigint)[]): this {
    if (values.length === 0) return this;
    const inner = new ProtoWriter();
    for (const v of values) inner.raw(encodeVarint(v));
    return this.bytes(field, inner.finish());
  }

  /** A packed repeated `float` field; writes nothing for an empty list. */
  packedFloats(field: number, values: readonly number[]): this {
    if (values.length === 0) return this;
    const buf = new Uint8Array(values.length * 4);
    const view = new DataView(buf.buffer);
    values.forEach((v, i) => view.setFloat32(i * 4, v, true));
    return this.bytes(field, buf);
  }

  /** Concatenates everything written so far. */
  finish(): Uint8Array {
    const out = new Uint8Array(this.length);
    let offset = 0;
    for (const chunk of this.chunks) {
      out.set(chunk, offset);
      offset += chunk.length;
    }
    return out;
  }
}
