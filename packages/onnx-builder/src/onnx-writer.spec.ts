import { DataType, rawTensor } from '@edge-fleet/onnx-codec';
import { describe, expect, it } from 'vitest';
import { GraphBuilder, attr } from './graph-builder.js';
import { readModelSignature } from './onnx-reader.js';
import { floatTensor, int64Tensor, nodeOf, valueInfoOf } from './onnx-types.js';
import { encodeAttribute, encodeModel, encodeNode, encodeOpset, encodeTensor, encodeValueInfo } from './onnx-writer.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const ascii = (s: string): string => Buffer.from(s, 'utf8').toString('hex');

// Expected bytes are computed by hand from the field numbers in onnx/onnx.proto3.
describe('ONNX message encoding', () => {
  it('encodes OperatorSetIdProto (domain 1, version 2)', () => {
    expect(hex(encodeOpset({ domain: '', version: 17 }))).toBe('1011');
    expect(hex(encodeOpset({ domain: 'com.microsoft', version: 1 }))).toBe(`0a0d${ascii('com.microsoft')}1001`);
  });

  it('encodes a float32 TensorProto as dims 1, data_type 2, name 8, raw_data 9', () => {
    expect(hex(encodeTensor(floatTensor('w', [2], [1, -2])))).toBe(`0802 1001 4201${ascii('w')} 4a08 0000803f 000000c0`.replace(/ /g, ''));
  });

  it('encodes an int64 TensorProto little-endian', () => {
    expect(hex(encodeTensor(int64Tensor('i', [1, 2], [-1n, 258])))).toBe(
      `0801 0802 1007 4201${ascii('i')} 4a10 ffffffffffffffff 0201000000000000`.replace(/ /g, ''),
    );
  });

  it('rejects tensors whose data does not match their dims', () => {
    expect(() => floatTensor('w', [2, 2], [1, 2, 3])).toThrow(RangeError);
    expect(() => encodeTensor(rawTensor('w', DataType.FLOAT, [2], new Uint8Array(4)))).toThrow(RangeError);
    const g = new GraphBuilder('bad');
    const c = g.op('Constant', [], { attributes: [attr.tensor('value', rawTensor('c', DataType.FLOAT, [2], new Uint8Array(4)))] });
    g.output(c, 'float32', [2]);
    expect(() => g.build()).toThrow(/raw_data has 4 bytes, dims need 8/);
  });

  it.each([
    [attr.int('axis', -1), `0a04${ascii('axis')}18ffffffffffffffffff01a00102`],
    [attr.float('alpha', 0.5), `0a05${ascii('alpha')}150000003fa00101`],
    [attr.string('mode', 'x'), `0a04${ascii('mode')}2201${ascii('x')}a00103`],
    [attr.tensor('value', floatTensor('c', [], [2])), `0a05${ascii('value')}2a0b10014201${ascii('c')}4a0400000040a00104`],
    [attr.floats('s', [1]), `0a01${ascii('s')}3d0000803fa00106`],
    [attr.ints('pads', [1, 2]), `0a04${ascii('pads')}40014002a00107`],
  ])('encodes AttributeProto %#', (a, expected) => {
    expect(hex(encodeAttribute(a))).toBe(expected);
  });

  it('encodes NodeProto as input 1, output 2, name 3, op_type 4, attribute 5, domain 7', () => {
    const node = encodeNode({
      opType: 'Relu',
      inputs: ['x'],
      outputs: ['y'],
      name: 'n',
      domain: 'd',
      attributes: [attr.int('k', 1)],
    });
    expect(hex(node)).toBe(
      `0a01${ascii('x')}1201${ascii('y')}1a01${ascii('n')}2204${ascii('Relu')}2a08 0a016b 1801 a00102 3a01${ascii('d')}`.replace(/ /g, ''),
    );
  });

  it('encodes ValueInfoProto with dim_param and dim_value', () => {
    const dims = `0a03 1201${ascii('N')} 0a02 0803`;
    const tensorType = `0801 1209 ${dims}`;
    const expected = `0a01${ascii('x')} 120f 0a0d ${tensorType}`.replace(/ /g, '');
    expect(hex(encodeValueInfo({ name: 'x', elemType: 'float32', shape: ['N', 3] }))).toBe(expected);
  });

  it('encodes a whole ModelProto', () => {
    // shape [1] → dim {dim_value 1}; TypeProto{tensor_type{elem_type 1, shape}}; ValueInfoProto{name, type}
    const vi = (name: string): string => `0a01${ascii(name)} 120a 0a08 0801 1204 0a02 0801`.replace(/ /g, '');
    const node = `0a01${ascii('x')}1201${ascii('y')}2204${ascii('Relu')}`;
    const graph = `0a0c${node} 1201${ascii('g')} 5a0f${vi('x')} 620f${vi('y')}`.replace(/ /g, '');
    const expected = `0808 120a${ascii('edge-fleet')} 3a33${graph} 42021011`.replace(/ /g, '');
    const bytes = encodeModel({
      name: 'g',
      nodes: [nodeOf({ opType: 'Relu', inputs: ['x'], outputs: ['y'] })],
      initializers: [],
      docString: '',
      inputs: [valueInfoOf({ name: 'x', elemType: 'float32', shape: [1] })],
      outputs: [valueInfoOf({ name: 'y', elemType: 'float32', shape: [1] })],
      valueInfo: [],
    });
    expect(hex(bytes)).toBe(expected);
  });
});

describe('readModelSignature', () => {
  it('reads back inputs, outputs and opsets, leaving out initializers', () => {
    const g = new GraphBuilder('sig');
    const x = g.input('x', 'float32', ['batch', 4]);
    const ids = g.input('ids', 'int64', [1, 'seq']);
    const w = g.initializer(floatTensor('w', [4, 2], new Float32Array(8)));
    g.op('MatMul', [x, w], { output: 'y' });
    g.op('Identity', [ids], { output: 'ids_out' });
    g.output('y', 'float32', ['batch', 2]);
    g.output('ids_out', 'int64', [1, 'seq']);
    const sig = readModelSignature(
      g.build({
        opsets: [
          { domain: '', version: 17 },
          { domain: 'com.microsoft', version: 1 },
        ],
      }),
    );
    expect(sig).toEqual({
      irVersion: 8,
      producerName: 'edge-fleet',
      opsets: [
        { domain: '', version: 17 },
        { domain: 'com.microsoft', version: 1 },
      ],
      inputs: [
        { name: 'x', elemType: 1, shape: ['batch', 4] },
        { name: 'ids', elemType: 7, shape: [1, 'seq'] },
      ],
      outputs: [
        { name: 'y', elemType: 1, shape: ['batch', 2] },
        { name: 'ids_out', elemType: 7, shape: [1, 'seq'] },
      ],
    });
  });
});

describe('GraphBuilder', () => {
  it('refuses inputs that are not defined yet and duplicate names', () => {
    const g = new GraphBuilder('bad');
    g.input('x', 'float32', [1]);
    expect(() => g.op('Relu', ['nope'])).toThrow(/undefined input/);
    expect(() => g.input('x', 'float32', [1])).toThrow(/defined twice/);
    expect(() => g.output('missing', 'float32', [1])).toThrow(/not produced/);
    expect(() => g.build()).toThrow(/no outputs/);
  });
});
