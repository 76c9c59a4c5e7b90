import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

const CLI = path.join(path.dirname(fileURLToPath(import.meta.resolve('@edge-fleet/onnx-quant'))), 'cli.js');

const MeasurementSchema = z.object({
  sizeBytes: z.number(),
  loadMs: z.number(),
  latencyMs: z.object({ p50: z.number(), p95: z.number().optional(), p99: z.number(), runs: z.number() }),
  agreement: z.object({ maxAbsError: z.number(), cosine: z.number(), top1: z.number().optional() }).optional(),
});
export type BuilderMeasurement = z.infer<typeof MeasurementSchema>;

const InputInfoSchema = z.object({ source: z.string(), seed: z.number().optional(), samples: z.number() });

export const BuildReportSchema = z.object({
  fp32: z.object({ sizeBytes: z.number(), sha256: z.string(), measured: MeasurementSchema }),
  variants: z.array(
    z.object({
      precision: z.enum(['fp16', 'int8', 'int4']),
      method: z.enum(['fp16', 'int8-static-qdq', 'int8-dynamic', 'int4-matmulnbits']),
      status: z.enum(['ready', 'not_applicable', 'failed', 'unusable']),
      reason: z.string().optional(),
      sha256: z.string().optional(),
      sizeBytes: z.number().optional(),
      measured: MeasurementSchema.optional(),
      file: z.string().optional(),
    }),
  ),
  machine: z.object({ cpuModel: z.string(), intraOpThreads: z.number() }),
  /** Absent from builders that predate it. */
  referenceBenchmark: z.object({ model: z.string().max(64), p50Ms: z.number().min(0), runs: z.int().min(1) }).optional(),
  calibration: InputInfoSchema,
  evaluation: InputInfoSchema,
  upgrade: z.object({ fromOpset: z.number(), toOpset: z.number(), maxAbsError: z.number(), samples: z.number() }).optional(),
});
export type BuildReport = z.infer<typeof BuildReportSchema>;

/**
 * Runs the variant builder (packages/onnx-quant) in a child process: quantizing and measuring
 * load untrusted models into onnxruntime, so a crash there cannot take the control plane down.
 */
export async function runVariantBuilder(
  modelPath: string,
  inputsPath: string,
  outDir: string,
  o: { runs: number; timeoutMs: number; calibrationPath: string | null },
): Promise<BuildReport> {
  const args = [
    CLI,
    'build',
    modelPath,
    inputsPath,
    outDir,
    '--threads',
    '1',
    '--runs',
    String(o.runs),
    ...(o.calibrationPath ? ['--calibration', o.calibrationPath] : []),
  ];
  await new Promise<void>((resolve, reject) => {
    execFile(process.execPath, args, { timeout: o.timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, _stdout, stderr) => {
      if (err) reject(new Error(`variant builder failed: ${(stderr || err.message).trim().split('\n').slice(-3).join(' ')}`));
      else resolve();
    });
  });
  return BuildReportSchema.parse(JSON.parse(await readFile(path.join(outDir, 'report.json'), 'utf8')));
}
