import {
  ProtoWriter,
  buildConvNet,
  buildMlpClassifier,
  buildMultiInput,
  buildRecurrent,
  encodeOpset,
  encodeValueInfo,
} from '@edge-fleet/onnx-builder';
import { describe, expect, it } from 'vitest';
import { CORPUS_MODELS, readCorpusModel } from '../bench/corpus-models.js';
import { OnnxQuantError } from '../errors.js';
import { checkModel } from './model-checks.js';
import { decodeModel } from './model-decoder.js';
import { DataType, makeAttribute, type OnnxModel, encodeModel } from '@edge-fleet/onnx-codec';

const fixtures = {
  'mlp-gemm': buildMlpClassifier().bytes,
  'mlp-matmul': buildMlpClassifier({ layers: 'matmul' }).bytes,
  convnet: buildConvNet().bytes,
  'multi-input': buildMultiInput().bytes,
  recurrent: buildRecurrent().bytes,
};

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof OnnxQuantError ? err.code : `not typed: ${String(err)}`;
  }
  return undefined;
}

describe('decode/encode round trip', () => {
  it.each(Object.entries(fixtures))('%s: decode(encode(m)) equals m and the bytes are identical', (_name, bytes) => {
    const m = decodeModel(bytes);
    const again = encodeModel(m);
    expect(decodeModel(again)).toEqual(m);
    expect(Buffer.from(again).equals(Buffer.from(bytes))).toBe(true);
  });

  it('reads the model structure', () => {
    const m = decodeModel(fixtures.convnet);
    expect(m.opsets).toEqual([{ domain: '', version: 17 }]);
    expect(m.graph.inputs[0]?.type?.tensor).toEqual({ elemType: DataType.FLOAT, shape: [1, 3, 32, 32] });
    const conv = m.graph.nodes.find((n) => n.opType === 'Conv');
    expect(conv?.attributes.find((a) => a.name === 'pads')).toMatchObject({ type: 'INTS', value: [1n, 1n, 1n, 1n] });
  });

  it('reads float_data / int64_data (packed and unpacked) and every attribute kind', () => {
    const tensor = new ProtoWriter().varint(1, 2).varint(2, DataType.FLOAT).packedFloats(4, [1.5, -2]).string(8, 'w');
    const ints = new ProtoWriter().varint(1, 2).varint(2, DataType.INT64).varint(7, 5).varint(7, -3).string(8, 'shape');
    const body = decodeModel(fixtures.recurrent).graph;
    const model = decodeModel(fixtures.recurrent);
    model.graph.initializers.push(decodeTensorBytes(tensor.finish()), decodeTensorBytes(ints.finish()));
    model.graph.nodes.push({
      inputs: [],
      outputs: ['k'],
      name: 'c',
      opType: 'Constant',
      domain: '',
      docString: 'doc',
      attributes: [
        makeAttribute('value_floats', { type: 'FLOATS', value: [0.5, 2] }),
        makeAttribute('s', { type: 'STRINGS', value: ['a', 'b'] }),
        makeAttribute('body', { type: 'GRAPH', value: body }),
        makeAttribute('f', { type: 'FLOAT', value: 0.25 }),
        makeAttribute('i', { type: 'INT', value: -(2n ** 62n) }),
      ],
    });
    const decoded = decodeModel(encodeModel(model));
    expect(decoded).toEqual(model);
    expect(decoded.graph.initializers.find((t) => t.name === 'w')?.floatData).toEqual([1.5, -2]);
    expect(decoded.graph.initializers.find((t) => t.name === 'shape')?.int64Data).toEqual([5n, -3n]);
  });

  it('keeps fields it does not model (node metadata_props) and fields newer than the schema, byte for byte', () => {
    const node = new ProtoWriter()
      .string(1, 'x')
      .string(2, 'y')
      .string(4, 'Relu')
      .message(9, (e) => e.string(1, 'origin').string(2, 'test')) // NodeProto.metadata_props
      .finish();
    const graph = new ProtoWriter()
      .bytes(1, node)
      .string(2, 'g')
      .bytes(11, encodeValueInfo({ name: 'x', elemType: 'float32', shape: [1] }))
      .bytes(12, encodeValueInfo({ name: 'y', elemType: 'float32', shape: [1] }))
      .varint(999, 42) // no such field in ONNX 1.20
      .finish();
    const bytes = new ProtoWriter()
      .varint(1, 8)
      .string(2, 'edge-fleet')
      .bytes(7, graph)
      .bytes(8, encodeOpset({ domain: '', version: 17 }))
      .finish();
    const m = decodeModel(bytes);
    expect(m.graph.nodes[0]?.extra?.metadataProps).toEqual([expect.objectContaining({ key: 'origin', value: 'test' })]);
    expect(m.graph.extra?.$unknown).toHaveLength(1);
    expect(Buffer.from(encodeModel(m)).equals(Buffer.from(bytes))).toBe(true);
    // A transform's copy carries them too.
    expect(Buffer.from(encodeModel(structuredClone(m))).equals(Buffer.from(bytes))).toBe(true);
  });
});

function decodeTensorBytes(bytes: Uint8Array): OnnxModel['graph']['initializers'][number] {
  // A one-initializer graph inside a model, decoded, yields the TensorProto as the reader sees it.
  const graph = new ProtoWriter().string(2, 'g').bytes(5, bytes).finish();
  const model = new ProtoWriter().varint(1, 8).bytes(7, graph).bytes(8, new ProtoWriter().varint(2, 17).finish()).finish();
  const t = decodeModel(model).graph.initializers[0];
  if (!t) throw new Error('no initializer');
  return t;
}

describe("round trip of the published corpus (other exporters' files)", () => {
  // The hand-written codec dropped explicitly written empty fields: 1 of these 6 came back identical.
  it.each(Object.entries(CORPUS_MODELS))('%s: decode then encode gives the file back byte for byte', async (_name, c) => {
    const bytes = await readCorpusModel(c);
    expect(Buffer.from(encodeModel(decodeModel(bytes))).equals(Buffer.from(bytes))).toBe(true);
  });
});

describe('bad input', () => {
  it('rejects bytes that are not ONNX with invalid_onnx', () => {
    expect(codeOf(() => decodeModel(new TextEncoder().encode('definitely not a protobuf model')))).toBe('invalid_onnx');
    expect(codeOf(() => decodeModel(Uint8Array.of(0x0a, 0xff, 0xff)))).toBe('invalid_onnx');
    expect(codeOf(() => decodeModel(new Uint8Array(0)))).toBe('invalid_onnx');
  });

  it('rejects external data with external_data', () => {
    const m = decodeModel(fixtures['mlp-gemm']);
    const w = m.graph.initializers[0];
    if (!w) throw new Error('fixture has no initializer');
    delete w.rawData;
    w.dataLocation = 1;
    w.externalData = [{ key: 'location', value: 'weights.bin' }];
    const reread = decodeModel(encodeModel(m));
    expect(codeOf(() => checkModel(reread))).toBe('external_data');
  });
});
