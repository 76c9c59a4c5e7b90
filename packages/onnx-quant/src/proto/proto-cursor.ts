/**
 * A protobuf reader that, unlike onnx-builder's `ProtoReader`, also reads fixed-width
 * scalars and exposes its position, so unknown fields can be kept as raw bytes.
 */
const textDecoder = new TextDecoder('utf-8');

/** Wire types (https://protobuf.dev/programming-guides/encoding/#structure). */
export const WIRE = { varint: 0, fixed64: 1, len: 2, fixed32: 5 } as const;

/** Sequential reader over one message. */
export class ProtoCursor {
  private offset = 0;
  private readonly view: DataView;

  constructor(private readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  /** Current read offset. */
  get pos(): number {
    return this.offset;
  }

  /** True while unread bytes remain. */
  hasMore(): boolean {
    return this.offset < this.buf.length;
  }

  /** The bytes between `start` and the current position (a copy). */
  since(start: number): Uint8Array {
    return this.buf.slice(start, this.offset);
  }

  /** Reads a varint as an unsigned 64-bit bigint. */
  varintBig(): bigint {
    let result = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      const byte = this.buf[this.offset];
      if (byte === undefined) throw new RangeError('truncated varint');
      this.offset += 1;
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return BigInt.asUintN(64, result);
    }
    throw new RangeError('varint longer than 10 bytes');
  }

  /** Reads a varint as a signed int64. */
  int64(): bigint {
    return BigInt.asIntN(64, this.varintBig());
  }

  /** Reads a varint that must be a safe integer (lengths, enums, int32 fields). */
  int(): number {
    const n = Number(this.int64());
    if (!Number.isSafeInteger(n)) throw new RangeError(`varint ${n} is not a safe integer`);
    return n;
  }

  /** Reads a field key. */
  tag(): { field: number; wireType: number } {
    const key = this.int();
    if (key <= 0) throw new RangeError(`invalid field key ${key}`);
    return { field: Math.floor(key / 8), wireType: key % 8 };
  }

  /** Reads a length-delimited payload (a sub-view, not a copy). */
  bytes(): Uint8Array {
    const len = this.int();
    const end = this.offset + len;
    if (len < 0 || end > this.buf.length) throw new RangeError('length-delimited field overruns buffer');
    const out = this.buf.subarray(this.offset, end);
    this.offset = end;
    return out;
  }

  /** Reads a UTF-8 string. */
  string(): string {
    return textDecoder.decode(this.bytes());
  }

  /** Reads a little-endian IEEE float. */
  float(): number {
    this.need(4);
    const v = this.view.getFloat32(this.offset, true);
    this.offset += 4;
    return v;
  }

  /** Reads a little-endian IEEE double. */
  double(): number {
    this.need(8);
    const v = this.view.getFloat64(this.offset, true);
    this.offset += 8;
    return v;
  }

  /** Reads an unsigned fixed64. */
  fixed64(): bigint {
    this.need(8);
    const v = this.view.getBigUint64(this.offset, true);
    this.offset += 8;
    return v;
  }

  /** Skips one value of the given wire type. */
  skip(wireType: number): void {
    if (wireType === WIRE.varint) this.varintBig();
    else if (wireType === WIRE.fixed64) this.advance(8);
    else if (wireType === WIRE.len) this.bytes();
    else if (wireType === WIRE.fixed32) this.advance(4);
    else throw new RangeError(`unsupported wire type ${wireType}`);
  }

  private need(n: number): void {
    if (this.offset + n > this.buf.length) throw new RangeError('fixed-width field overruns buffer');
  }

  private advance(n: number): void {
    this.need(n);
    this.offset += n;
  }
}

/** Calls `onField` per field; a field it does not consume is kept as raw bytes in the returned list. */
export function readFields(bytes: Uint8Array, onField: (field: number, wireType: number, c: ProtoCursor) => boolean): Uint8Array[] {
  const c = new ProtoCursor(bytes);
  const unknown: Uint8Array[] = [];
  while (c.hasMore()) {
    const start = c.pos;
    const { field, wireType } = c.tag();
    if (!onField(field, wireType, c)) {
      c.skip(wireType);
      unknown.push(c.since(start));
    }
  }
  return unknown;
}

/** Reads a repeated scalar that may be packed (len) or not; `one` reads one element. */
export function readRepeated<T>(wireType: number, c: ProtoCursor, out: T[], one: (c: ProtoCursor) => T): void {
  if (wireType !== WIRE.len) {
    out.push(one(c));
    return;
  }
  const inner = new ProtoCursor(c.bytes());
  while (inner.hasMore()) out.push(one(inner));
}
