/**
 * A field-by-field protobuf writer, for tests that lay out a file by hand: messages the schema
 * cannot express (hostile external-data entries, fields out of order, types the builder does not
 * write). Models themselves are encoded by the codec. A thin layer over `@bufbuild/protobuf`'s
 * `BinaryWriter`, which does the wire encoding.
 */
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';

export { WireType };

const INT64_MAX = (1n << 63n) - 1n;

/** Appends protobuf fields; `finish()` returns the message bytes. */
export class ProtoWriter {
  private readonly w = new BinaryWriter();

  /** Writes raw bytes with no tag. */
  raw(bytes: Uint8Array): this {
    this.w.raw(bytes);
    return this;
  }

  /** Writes a field key: `(field << 3) | wireType`. */
  tag(field: number, wireType: WireType): this {
    if (!Number.isInteger(field) || field < 1 || field > 0x1fffffff) {
      throw new RangeError(`invalid protobuf field number ${field}`);
    }
    this.w.tag(field, wireType);
    return this;
  }

  /** A varint field (`int32`, `int64`, `uint64`, `bool`, enums); negative values take ten bytes. */
  varint(field: number, value: number | bigint): this {
    this.tag(field, WireType.Varint);
    if (typeof value === 'bigint' && value > INT64_MAX) this.w.uint64(value);
    else this.w.int64(value);
    return this;
  }

  /** A length-delimited field holding raw bytes or an encoded sub-message. */
  bytes(field: number, value: Uint8Array): this {
    this.tag(field, WireType.LengthDelimited).w.bytes(value);
    return this;
  }

  /** A UTF-8 `string` field. */
  string(field: number, value: string): this {
    this.tag(field, WireType.LengthDelimited).w.string(value);
    return this;
  }

  /** A sub-message field, written by `write` into a fresh writer. */
  message(field: number, write: (w: ProtoWriter) => void): this {
    const inner = new ProtoWriter();
    write(inner);
    return this.bytes(field, inner.finish());
  }

  /** A `float` field (fixed32, little-endian IEEE 754). */
  float(field: number, value: number): this {
    this.tag(field, WireType.Bit32).w.float(value);
    return this;
  }

  /** A packed repeated varint field; writes nothing for an empty list (proto3 default). */
  packedVarints(field: number, values: readonly (number | bigint)[]): this {
    if (values.length === 0) return this;
    return this.message(field, (inner) => values.forEach((v) => inner.w.int64(v)));
  }

  /** A packed repeated `float` field; writes nothing for an empty list. */
  packedFloats(field: number, values: readonly number[]): this {
    if (values.length === 0) return this;
    return this.message(field, (inner) => values.forEach((v) => inner.w.float(v)));
  }

  /** Everything written so far. */
  finish(): Uint8Array {
    return this.w.finish();
  }
}
