import { InputSpecListSchema } from '@edge-fleet/shared/schemas';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MODEL_CATALOG, writeModels } from './model-catalog.js';
import { readModelSignature } from './onnx-reader.js';
import { referenceBenchmarkModel } from './reference-benchmark.js';

describe('writeModels', () => {
  let dir = '';
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('writes each model with an inputs.json that matches its graph inputs', async () => {
    dir = await mkdtemp(join(tmpdir(), 'onnx-gen-'));
    const written = await writeModels(join(dir, 'out'));
    expect(written.map((w) => w.name)).toEqual(['mlp', 'convnet', 'multi-input', 'recurrent']);
    expect((await readdir(join(dir, 'out'))).sort()).toEqual(written.flatMap((w) => [`${w.name}.inputs.json`, `${w.name}.onnx`]).sort());
    for (const w of written) {
      const bytes = await readFile(w.modelPath);
      expect(bytes.length).toBe(w.sizeBytes);
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(w.sha256);
      const inputs = InputSpecListSchema.parse(JSON.parse(await readFile(w.inputsPath, 'utf8')));
      expect(inputs.map((i) => i.name)).toEqual(readModelSignature(bytes).inputs.map((i) => i.name));
    }
  });
});

describe('the files the catalog writes', () => {
  // sha256 of each model as the hand-written writer it replaced encoded it (git 18a8fbf, seed 1):
  // encoding through the generated ONNX messages changed no byte of them.
  const BEFORE_THE_CODEC: Record<string, string> = {
    mlp: '48d9213dcc48b4382dba6e233828a109e6034bc6478abd0526cc330004e525ee',
    convnet: '4fbf65a1eb15d47b65a19cfd7b90604254ce994f065c5395456f8d5eb35c5dfb',
    'multi-input': '1dd1df7d269b31e4f47b0efab9e09121033e66a4599b9c7e768e4e779c6e6bd4',
    recurrent: '492dd8ea71c93433fa76138a3c9fc6c51527e3bb92fa2576923a5c9f6a0719d6',
    reference: '820edec261f88b20728f7c9422490f538bf0e71693829e921661947d46763f86',
  };
  const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

  it.each(Object.entries(MODEL_CATALOG))('%s is byte for byte what it was before the shared codec', (name, build) => {
    expect(sha256(build(1).bytes)).toBe(BEFORE_THE_CODEC[name]);
  });

  it('the reference benchmark model too', () => {
    expect(sha256(referenceBenchmarkModel().bytes)).toBe(BEFORE_THE_CODEC.reference);
  });
});
