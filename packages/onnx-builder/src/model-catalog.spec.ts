import { InputSpecListSchema } from '@edge-fleet/shared/schemas';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { writeModels } from './model-catalog.js';
import { readModelSignature } from './onnx-reader.js';

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
