/** What onnxruntime makes of a model: the op types of its optimized graph (to check QDQ fusions). */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeModel } from '../model/model-decoder.js';
import { createSession } from './session.js';

/** Op types of the graph onnxruntime runs after all its optimizations, in node order. */
export async function optimizedOpTypes(bytes: Uint8Array): Promise<string[]> {
  const dir = await mkdtemp(join(tmpdir(), 'onnx-quant-optimized-'));
  try {
    const path = join(dir, 'optimized.onnx');
    const session = await createSession(bytes, { intraOpThreads: 1, optimizedModelFilePath: path });
    await session.release();
    return decodeModel(new Uint8Array(await readFile(path))).graph.nodes.map((n) => n.opType);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
