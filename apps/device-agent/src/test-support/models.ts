import { createHash } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  buildConvNet,
  buildMlpClassifier,
  buildMultiInput,
  buildRecurrent,
  ELEM_TYPE,
  encodeNode,
  encodeOpset,
  encodeTensor,
  encodeValueInfo,
  floatTensor,
  type GeneratedModel,
  GraphBuilder,
  glorotUniform,
  mulberry32,
  ProtoWriter,
} from '@edge-fleet/onnx-builder';
import type { InputSpec } from '@edge-fleet/shared';

export interface ModelFile {
  name: string;
  path: string;
  bytes: Uint8Array;
  sha256: string;
  inputs: InputSpec[];
}

export const MODEL_FACTORIES = {
  mlp: () => buildMlpClassifier(),
  conv: () => buildConvNet(),
  multi: () => buildMultiInput(),
  recurrent: () => buildRecurrent(),
  slow: () => buildSlowModel(),
} as const;

/**
 * Deliberately slow but healthy: a chain of [size×size]·[size×size] MatMuls, each squashed by Tanh so
 * outputs stay finite (it passes the smoke run) while every inference takes tens of milliseconds.
 */
export function buildSlowModel(size = 384, depth = 48): GeneratedModel {
  const g = new GraphBuilder('slow_matmul_chain');
  let x = g.input('x', 'float32', [size, size]);
  const w = g.initializer(floatTensor('w', [size, size], glorotUniform(mulberry32(3), size, size)));
  for (let i = 0; i < depth; i++) x = g.op('Tanh', [g.op('MatMul', [x, w])], i === depth - 1 ? { output: 'y' } : {});
  g.output('y', 'float32', [size, size]);
  return {
    bytes: g.build(),
    inputs: [{ name: 'x', dtype: 'float32', shape: [size, size], min: -1, max: 1 }],
    description: `slow ${depth}×MatMul ${size}`,
  };
}

export type ModelName = keyof typeof MODEL_FACTORIES;

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Writes one generated model into a fresh temp directory. */
export async function writeModel(name: ModelName, dir?: string): Promise<ModelFile> {
  const generated = MODEL_FACTORIES[name]();
  const target = dir ?? (await mkdtemp(join(tmpdir(), 'agent-model-')));
  const path = join(target, `${name}.onnx`);
  await writeFile(path, generated.bytes);
  return { name, path, bytes: generated.bytes, sha256: sha256(generated.bytes), inputs: generated.inputs };
}

/** Tensor data as plain numbers (int64 included) for comparisons; [] when absent. */
export function toNumbers(data: ArrayLike<number | bigint> | undefined): number[] {
  return Array.from(data ?? [], Number);
}

/**
 * A model whose weight `w_ext` lives in an external file (`data_location = EXTERNAL`, with an
 * `external_data` location, here one pointing out of the model dir). `where`: the initializer list,
 * or a Constant node's tensor attribute inside an If branch (a subgraph).
 */
export function buildExternalDataModel(
  location = '../../../etc/passwd',
  where: 'initializer' | 'subgraph' = 'initializer',
): GeneratedModel {
  const tensor = new ProtoWriter()
    .varint(1, 4) // dims
    .varint(2, ELEM_TYPE.float32) // data_type
    .string(8, 'w_ext') // name
    .message(13, (e) => e.string(1, 'location').string(2, location)) // external_data
    .message(13, (e) => e.string(1, 'length').string(2, '16'))
    .varint(14, 1) // data_location = EXTERNAL
    .finish();
  const graph = new ProtoWriter();
  if (where === 'initializer') {
    graph.bytes(1, encodeNode({ opType: 'Add', inputs: ['x', 'w_ext'], outputs: ['y'], name: 'add' }));
    graph.string(2, 'external_data');
    graph.bytes(5, tensor);
  } else {
    const branch = (name: string, withTensor: boolean): Uint8Array => {
      const b = new ProtoWriter();
      const constant = new ProtoWriter().string(1, 'value');
      if (withTensor) constant.bytes(5, tensor);
      else constant.bytes(5, encodeTensor(floatTensor('zero', [4], [0, 0, 0, 0])));
      b.bytes(1, new ProtoWriter().string(2, `${name}_out`).string(4, 'Constant').bytes(5, constant.varint(20, 4).finish()).finish());
      b.string(2, name);
      b.bytes(12, encodeValueInfo({ name: `${name}_out`, elemType: 'float32', shape: [4] }));
      return b.finish();
    };
    const ifNode = new ProtoWriter()
      .string(1, 'cond')
      .string(2, 'y')
      .string(3, 'if')
      .string(4, 'If')
      .bytes(5, new ProtoWriter().string(1, 'then_branch').bytes(6, branch('then', true)).varint(20, 5).finish())
      .bytes(5, new ProtoWriter().string(1, 'else_branch').bytes(6, branch('else', false)).varint(20, 5).finish());
    graph.bytes(1, ifNode.finish());
    graph.string(2, 'external_data_in_subgraph');
  }
  graph.bytes(11, encodeValueInfo({ name: 'x', elemType: 'float32', shape: [4] }));
  if (where === 'subgraph') graph.bytes(11, encodeValueInfo({ name: 'cond', elemType: 'bool', shape: [] }));
  graph.bytes(12, encodeValueInfo({ name: 'y', elemType: 'float32', shape: [4] }));
  const bytes = new ProtoWriter()
    .varint(1, 8)
    .string(2, 'edge-fleet')
    .bytes(7, graph.finish())
    .bytes(8, encodeOpset({ domain: '', version: 17 }))
    .finish();
  return { bytes, inputs: [{ name: 'x', dtype: 'float32', shape: [4] }], description: `external data (${where})` };
}
