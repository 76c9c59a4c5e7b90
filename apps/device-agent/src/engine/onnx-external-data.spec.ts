import { ProtoWriter } from '@edge-fleet/onnx-builder';
import { describe, expect, it } from 'vitest';
import { buildExternalDataModel, MODEL_FACTORIES, type ModelName } from '../test-support/models.js';
import { findExternalData, MAX_NESTING, OnnxScanError } from './onnx-external-data.js';

describe('findExternalData', () => {
  it.each(Object.keys(MODEL_FACTORIES) as ModelName[])('finds nothing in the self-contained %s model', (name) => {
    expect(findExternalData(MODEL_FACTORIES[name]().bytes)).toBeNull();
  });

  it('names an initializer with data_location EXTERNAL and its location', () => {
    expect(findExternalData(buildExternalDataModel('../../secrets.bin').bytes)).toEqual({ name: 'w_ext', location: '../../secrets.bin' });
  });

  it('finds a tensor attribute inside an If branch (a subgraph)', () => {
    expect(findExternalData(buildExternalDataModel('/etc/shadow', 'subgraph').bytes)).toEqual({ name: 'w_ext', location: '/etc/shadow' });
  });

  it('treats external_data entries alone, or data_location alone, as external', () => {
    const graph = (tensor: Uint8Array) => new ProtoWriter().bytes(7, new ProtoWriter().bytes(5, tensor).finish()).finish();
    const entriesOnly = new ProtoWriter()
      .string(8, 'a')
      .message(13, (e) => e.string(1, 'location').string(2, 'a.bin'))
      .finish();
    const flagOnly = new ProtoWriter().string(8, 'b').varint(14, 1).finish();
    const defaultFlag = new ProtoWriter().string(8, 'c').varint(14, 0).finish();
    expect(findExternalData(graph(entriesOnly))).toEqual({ name: 'a', location: 'a.bin' });
    expect(findExternalData(graph(flagOnly))).toEqual({ name: 'b', location: null });
    expect(findExternalData(graph(defaultFlag))).toBeNull();
  });

  it('row 10: refuses malformed protobuf instead of guessing', () => {
    const good = MODEL_FACTORIES.mlp().bytes;
    expect(() => findExternalData(good.subarray(0, good.length - 7))).toThrow(OnnxScanError);
    expect(() => findExternalData(new TextEncoder().encode('definitely not a protobuf'))).toThrow(OnnxScanError);
  });

  it('row 10: caps nesting without recursion: a deep chain of subgraphs is refused, not a stack overflow', () => {
    // graph → node → attribute(g) → graph … 1 000 levels deep
    let inner = new ProtoWriter().string(2, 'leaf').finish();
    for (let i = 0; i < 1_000; i++) {
      const attribute = new ProtoWriter().string(1, 'body').bytes(6, inner).varint(20, 5).finish();
      const node = new ProtoWriter().string(4, 'Loop').bytes(5, attribute).finish();
      inner = new ProtoWriter().bytes(1, node).finish();
    }
    const model = new ProtoWriter().bytes(7, inner).finish();
    expect(() => findExternalData(model)).toThrow(new RegExp(`deeper than ${MAX_NESTING}`));
  });
});
