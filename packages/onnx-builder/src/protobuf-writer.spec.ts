import { describe, expect, it } from 'vitest';
import { ProtoWriter } from './protobuf-writer.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const ascii = (s: string): string => Buffer.from(s, 'utf8').toString('hex');

describe('ProtoWriter varints', () => {
  it.each([
    [0, '00'],
    [1, '01'],
    [127, '7f'],
    [128, '8001'],
    [300, 'ac02'],
    [16_384, '808001'],
    [2 ** 32, '8080808010'],
    [Number.MAX_SAFE_INTEGER, 'ffffffffffffff0f'],
    [-1, 'ffffffffffffffffff01'],
    [-(2n ** 63n), '80808080808080808001'],
    [2n ** 64n - 1n, 'ffffffffffffffffff01'],
  ])('encodes %s as %s after the key', (value, expected) => {
    expect(hex(new ProtoWriter().varint(1, value).finish())).toBe(`08${expected}`);
  });
});

// Expected bytes are the worked examples of https://protobuf.dev/programming-guides/encoding/
describe('ProtoWriter', () => {
  it('writes a varint field with its key', () => {
    expect(hex(new ProtoWriter().varint(1, 150).finish())).toBe('089601');
  });

  it('writes a string field', () => {
    expect(hex(new ProtoWriter().string(2, 'testing').finish())).toBe(`1207${ascii('testing')}`);
  });

  it('writes a nested message length-prefixed', () => {
    expect(hex(new ProtoWriter().message(3, (w) => w.varint(1, 150)).finish())).toBe('1a03089601');
  });

  it('writes packed varints', () => {
    expect(hex(new ProtoWriter().packedVarints(4, [3, 270, 86_942]).finish())).toBe('2206038e029ea705');
  });

  it('writes packed floats little-endian', () => {
    expect(hex(new ProtoWriter().packedFloats(1, [1, -2]).finish())).toBe('0a080000803f000000c0');
  });

  it('writes nothing for empty packed lists', () => {
    expect(new ProtoWriter().packedVarints(4, []).packedFloats(5, []).finish()).toHaveLength(0);
  });

  it('writes float fields little-endian', () => {
    expect(hex(new ProtoWriter().float(2, 1).finish())).toBe('150000803f');
  });

  it('encodes field numbers above 15 with multi-byte keys', () => {
    expect(hex(new ProtoWriter().varint(16, 1).varint(20, 2).finish())).toBe('800101a00102');
  });

  it('rejects invalid field numbers', () => {
    expect(() => new ProtoWriter().varint(0, 1)).toThrow(RangeError);
    expect(() => new ProtoWriter().varint(2 ** 29, 1)).toThrow(RangeError);
  });

  it('concatenates chunks in order', () => {
    const w = new ProtoWriter()
      .varint(1, 1)
      .string(2, 'a')
      .bytes(3, Uint8Array.from([9, 8]));
    expect(hex(w.finish())).toBe('0801120161' + '1a020908');
  });
});
