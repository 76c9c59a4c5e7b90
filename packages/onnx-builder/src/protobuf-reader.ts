import { WireType } from './protobuf-writer.js';

const textDecoder = new TextDecoder('utf-8', { fatal: true });

/** One decoded field key. */
export interface ProtoTag {
  field: number;
  wireType: number;
}

/** Sequential protobuf decoder over one message's bytes; unknown fields are skipped by the caller. */
export class ProtoReader {
  private pos = 0;

  constructor(private readonly buf: Uint8Array) {}

  /** True while unread bytes remain. */
  hasMore(): boolean {
    return this.pos < this.buf.length;
  }

  /** Reads a varint as an unsigned 64-bit bigint. */
  varintBig(): bigint {
    let result = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      const byte = this.buf[this.pos];
      if (byte === undefined) throw new RangeError('truncated varint');
      this.pos += 1;
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return BigInt.asUintN(64, result);
    }
    throw new RangeError('varint longer than 10 bytes');
  }

  /** Reads a varint as a signed `int64` number; throws if it is not a safe integer. */
  varint(): number {
    const n = Number(BigInt.asIntN(64, this.varintBig()));
    if (!Number.isSafeInteger(n)) throw new RangeError(`varint ${n} is not a safe integer`);
    return n;
  }

  /** Reads a field key. */
  tag(): ProtoTag {
    const key = this.varint();
    return { field: Math.floor(key / 8), wireType: key % 8 };
  }

  /** Reads a length-delimited payload (a sub-view, not a copy). */
  bytes(): Uint8Array {
    const len = this.varint();
    const end = this.pos + len;
    if (len < 0 || end > this.buf.length) throw new RangeError('length-delimited field overruns buffer');
    const out = this.buf.subarray(this.pos, end);
    this.pos = end;
    return out;
  }

  /** Reads a length-delimited UTF-8 string. */
  string(): string {
    return textDecoder.decode(this.bytes());
  }

  /** Skips the value of a field with the given wire type. */
  skip(wireType: number): void {
    switch (wireType) {
      case WireType.varint:
        this.varintBig();
        return;
      case WireType.fixed64:
        this.advance(8);
        return;
      case WireType.lengthDelimited:
        this.bytes();
        return;
      case WireType.fixed32:
        this.advance(4);
        return;
      default:
        throw new RangeError(`unsupported wire type ${wireType}`);
    }
  }

  private advance(n: number): void {
    if (this.pos + n > this.buf.length) throw new RangeError('fixed-width field overruns buffer');
    this.pos += n;
  }
}
