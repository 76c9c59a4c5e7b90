import { createHash } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildConvNet, buildMlpClassifier, buildMultiInput, buildRecurrent } from '@edge-fleet/onnx-builder';
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
} as const;

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
