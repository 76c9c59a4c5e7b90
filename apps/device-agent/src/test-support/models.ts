import { createHash } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  buildConvNet,
  buildMlpClassifier,
  buildMultiInput,
  buildRecurrent,
  floatTensor,
  type GeneratedModel,
  GraphBuilder,
  glorotUniform,
  mulberry32,
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
  return { bytes: g.build(), inputs: [{ name: 'x', dtype: 'float32', shape: [size, size], min: -1, max: 1 }], description: `slow ${depth}×MatMul ${size}` };
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
