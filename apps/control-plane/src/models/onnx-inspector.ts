import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

const INSPECTOR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../scripts/inspect-onnx.mjs');

const ValueSchema = z.object({ name: z.string(), type: z.string(), shape: z.array(z.union([z.number(), z.string()])) });
export const GraphSchema = z.object({ inputs: z.array(ValueSchema), outputs: z.array(ValueSchema) });
export type Graph = z.infer<typeof GraphSchema>;

const ResultSchema = z.object({
  ok: z.boolean(),
  stage: z.string().optional(),
  message: z.string().optional(),
  graph: GraphSchema.optional(),
  run: z
    .object({
      latencyMs: z.number(),
      loadMs: z.number(),
      latency: z.object({ p50: z.number(), p95: z.number(), p99: z.number() }),
      runs: z.number().int(),
      outputs: z.record(z.string(), z.array(z.number())),
    })
    .optional(),
});
export type InspectResult = z.infer<typeof ResultSchema>;

/** Runs the ONNX inspector in a child process, so a hostile file can crash only the child. */
export function inspectOnnx(modelPath: string, specPath?: string, calibrationPath?: string, timeoutMs = 120_000): Promise<InspectResult> {
  const args = [INSPECTOR, modelPath, ...(specPath ? [specPath] : []), ...(specPath && calibrationPath ? [calibrationPath] : [])];
  return new Promise((resolve) => {
    execFile(process.execPath, args, { timeout: timeoutMs, maxBuffer: 4 * 1024 * 1024 }, (err, stdout) => {
      const line = stdout.trim().split('\n').pop() ?? '';
      try {
        resolve(ResultSchema.parse(JSON.parse(line)));
      } catch {
        resolve({
          ok: false,
          stage: 'crash',
          message: err ? `inspector failed: ${err.message.split('\n')[0] ?? ''}` : 'inspector gave no result',
        });
      }
    });
  });
}
