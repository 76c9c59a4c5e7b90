import { create } from '@bufbuild/protobuf';
import {
  FunctionProtoSchema,
  GraphProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  OperatorSetIdProtoSchema,
  SparseTensorProtoSchema,
  TensorProtoSchema,
  TypeProto_SequenceSchema,
  TypeProto_TensorSchema,
  TypeProtoSchema,
  ValueInfoProtoSchema,
} from 'onnx-buf';
import { describe, expect, it } from 'vitest';
import { decodeModel, decodeModelProto, encodeModel, encodeModelProto, encodeNode } from './onnx-codec.js';
import { DataType, makeAttribute, makeNode, rawTensor, tensorValueInfo, type OnnxModel } from './onnx-model.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const ascii = (s: string): string => Buffer.from(s, 'utf8').toString('hex');

function tinyModel(): OnnxModel {
  const w = new Uint8Array(new Float32Array([1, -2, 0.5, 4]).buffer);
  return {
    irVersion: 8,
    producerName: 'test',
    producerVersion: '',
    domain: '',
    modelVersion: 0,
    docString: '',
    graph: {
      name: 'g',
      nodes: [
        makeNode('MatMul', ['x', 'w'], ['h'], 'mm'),
        makeNode('Gemm', ['h', 'w'], ['y'], 'gemm', [
          makeAttribute('alpha', { type: 'FLOAT', value: 0.5 }),
          makeAttribute('transB', { type: 'INT', value: 1n }),
        ]),
      ],
      initializers: [rawTensor('w', DataType.FLOAT, [2, 2], w)],
      docString: '',
      inputs: [tensorValueInfo('x', DataType.FLOAT, ['N', 2])],
      outputs: [tensorValueInfo('y', DataType.FLOAT, ['N', null])],
      valueInfo: [],
    },
    opsets: [{ domain: '', version: 17 }],
    metadata: [{ key: 'k', value: 'v' }],
  };
}

describe('decodeModel / encodeModel', () => {
  it('round-trips a model: equal after decoding, and the same bytes when encoded again', () => {
    const bytes = encodeModel(tinyModel());
    const decoded = decodeModel(bytes);
    expect(decoded).toEqual(tinyModel());
    expect(hex(encodeModel(decoded))).toBe(hex(bytes));
  });

  it('writes fields in field-number order and leaves empty names and doc strings out', () => {
    // input 1, output 2, op_type 4: no name (3), no doc string (6), no domain (7).
    expect(hex(encodeNode(makeNode('Relu', ['x'], ['y'], '')))).toBe(`0a01${ascii('x')}1201${ascii('y')}2204${ascii('Relu')}`);
  });

  it('decodes raw_data as a view into the bytes it was given, not a copy', () => {
    const bytes = encodeModel(tinyModel());
    const w = decodeModel(bytes).graph.initializers[0]?.rawData;
    expect(w?.buffer).toBe(bytes.buffer);
    expect(Array.from(new Float32Array(w?.slice().buffer ?? new ArrayBuffer(0)))).toEqual([1, -2, 0.5, 4]);
  });

  it('carries what the layer does not model (a sequence-typed value info) through a round trip', () => {
    const seq = create(ValueInfoProtoSchema, {
      name: 'seq',
      type: create(TypeProtoSchema, {
        value: {
          case: 'sequenceType',
          value: create(TypeProto_SequenceSchema, {
            elemType: create(TypeProtoSchema, {
              value: { case: 'tensorType', value: create(TypeProto_TensorSchema, { elemType: DataType.FLOAT }) },
            }),
          }),
        },
      }),
    });
    const proto = decodeModelProto(encodeModel(tinyModel()));
    proto.graph?.valueInfo.push(seq);
    const bytes = encodeModelProto(proto);
    const layer = decodeModel(bytes);
    expect(layer.graph.valueInfo[0]?.type?.tensor).toBeUndefined();
    expect(layer.graph.valueInfo[0]?.type?.extra?.value?.case).toBe('sequenceType');
    expect(hex(encodeModel(structuredClone(layer)))).toBe(hex(bytes));
  });

  it('carries model functions and sparse initializers through a copy of the layer', () => {
    const fn = create(FunctionProtoSchema, {
      name: 'f',
      domain: 'custom',
      input: ['a'],
      output: ['b'],
      node: [create(NodeProtoSchema, { opType: 'Relu', input: ['a'], output: ['b'] })],
    });
    const sparse = create(SparseTensorProtoSchema, {
      values: create(TensorProtoSchema, { dims: [2n], dataType: DataType.FLOAT, floatData: [1, 2] }),
      indices: create(TensorProtoSchema, { dims: [2n], dataType: DataType.INT64, int64Data: [0n, 3n] }),
      dims: [4n],
    });
    const proto = decodeModelProto(encodeModel(tinyModel()));
    proto.functions.push(fn);
    proto.graph?.sparseInitializer.push(sparse);
    const bytes = encodeModelProto(proto);
    const layer = decodeModel(bytes);
    expect(Object.keys(layer.extra ?? {})).toEqual(['functions']);
    expect(Object.keys(layer.graph.extra ?? {})).toEqual(['sparseInitializer']);
    expect(hex(encodeModel(structuredClone(layer)))).toBe(hex(bytes));
  });

  it('refuses what is not an ONNX model', () => {
    const noGraph = encodeModelProto(create(ModelProtoSchema, { irVersion: 8n }));
    expect(() => decodeModel(noGraph)).toThrow(/no graph/);
    const oldIr = encodeModelProto(create(ModelProtoSchema, { irVersion: 2n, graph: create(GraphProtoSchema, { name: 'g' }) }));
    expect(() => decodeModel(oldIr)).toThrow(/ir_version 2/);
    const noOp = create(GraphProtoSchema, { node: [create(NodeProtoSchema, { input: ['x'] })] });
    expect(() => decodeModel(encodeModelProto(create(ModelProtoSchema, { irVersion: 8n, graph: noOp })))).toThrow(/op_type/);
    expect(() => decodeModel(Uint8Array.of(0x3a, 0xff, 0xff))).toThrow();
  });

  it('refuses an int64 count that a JS number cannot hold', () => {
    const huge = create(TensorProtoSchema, { dims: [2n ** 60n], dataType: DataType.FLOAT, name: 'w' });
    const graph = create(GraphProtoSchema, { name: 'g', initializer: [huge] });
    const model = create(ModelProtoSchema, { irVersion: 8n, graph, opsetImport: [create(OperatorSetIdProtoSchema, { version: 17n })] });
    expect(() => decodeModel(encodeModelProto(model))).toThrow(/not a safe integer/);
  });
});
