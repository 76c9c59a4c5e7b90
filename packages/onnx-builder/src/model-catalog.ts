import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildConvNet } from './models/conv-net.factory.js';
import type { GeneratedModel } from './models/generated-model.js';
import { buildMlpClassifier } from './models/mlp-classifier.factory.js';
import { buildMultiInput } from './models/multi-input.factory.js';
import { buildRecurrent } from './models/recurrent.factory.js';

/** The demo models `onnx-gen` writes, by file stem. */
export const MODEL_CATALOG: Readonly<Record<string, (seed: number) => GeneratedModel>> = {
  mlp: (seed) => buildMlpClassifier({ seed }),
  convnet: (seed) => buildConvNet({ seed }),
  'multi-input': (seed) => buildMultiInput({ seed }),
  recurrent: (seed) => buildRecurrent({ seed }),
};

/** One file pair written by `writeModels`. */
export interface WrittenModel {
  name: string;
  modelPath: string;
  inputsPath: string;
  sizeBytes: number;
  sha256: string;
  description: string;
}

/**
 * Writes `<name>.onnx` and `<name>.inputs.json` (the InputSpec list) for every catalog
 * model into `outDir`, creating it if needed.
 */
export async function writeModels(outDir: string, seed = 1): Promise<WrittenModel[]> {
  await mkdir(outDir, { recursive: true });
  const written: WrittenModel[] = [];
  for (const [name, build] of Object.entries(MODEL_CATALOG)) {
    const model = build(seed);
    const modelPath = join(outDir, `${name}.onnx`);
    const inputsPath = join(outDir, `${name}.inputs.json`);
    await writeFile(modelPath, model.bytes);
    await writeFile(inputsPath, `${JSON.stringify(model.inputs, null, 2)}\n`);
    written.push({
      name,
      modelPath,
      inputsPath,
      sizeBytes: model.bytes.length,
      sha256: createHash('sha256').update(model.bytes).digest('hex'),
      description: model.description,
    });
  }
  return written;
}
