import { randomUUID } from 'node:crypto';
import { cpus } from 'node:os';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Inject, Injectable } from '@nestjs/common';
import {
  ModelUploadMetaSchema,
  PrecisionSchema,
  VariantMeasurementSchema,
  VariantMethodSchema,
  VariantStatusSchema,
  type InputSpec,
  type VariantMeasurement,
} from '@edge-fleet/shared';
import type { ModelVersionView, VariantView } from '@edge-fleet/shared/api';
import type { Config } from '../config.js';
import { AppError } from '../errors.js';
import { sha256Hex } from '../infra/secrets.js';
import { parseInput } from '../infra/validate.js';
import { CONFIG } from '../infra/tokens.js';
import { VariantBuildQueue } from './variant-build.queue.js';

/** Distinct artifacts a device may download: its current desired state's and the previous one's. */
const ARTIFACTS_PER_DEVICE = 2;

/** The variants the builder produces from each FP32 upload. */
export const VARIANT_METHODS = [
  { method: 'fp16', precision: 'fp16' },
  { method: 'int8-static-qdq', precision: 'int8' },
  { method: 'int8-dynamic', precision: 'int8' },
  { method: 'int4-matmulnbits', precision: 'int4' },
] as const;
import { checkInputSpec } from './input-spec-check.js';
import { inspectOnnx } from './onnx-inspector.js';
import { ModelRepository, type ModelVersionRow } from './model.repository.js';

/** The shapes are the API contract's (`ModelVersionViewSchema`, `VariantViewSchema`). */
export type { ModelVersionView, VariantView };

export function toView(r: ModelVersionRow): ModelVersionView {
  return {
    id: r.id,
    modelId: r.model.id,
    name: r.model.name,
    version: r.version,
    inputs: r.inputs as InputSpec[],
    calibration: r.calibrationSha256 ? 'uploaded' : 'generated',
    createdAt: r.createdAt.toISOString(),
    scenarios: r.policies.map((p) => p.scenario),
    variants: r.variants.map((v) => ({
      id: v.id,
      precision: PrecisionSchema.parse(v.precision),
      method: VariantMethodSchema.parse(v.method),
      status: VariantStatusSchema.parse(v.status),
      reason: v.reason,
      sha256: v.sha256,
      sizeBytes: v.sizeBytes,
      measured: VariantMeasurementSchema.safeParse(v.measured).data ?? null,
    })),
  };
}

/** Parses the multipart text fields: `inputs` arrives as a JSON string. */
function parseMeta(fields: Record<string, unknown>) {
  let inputs: unknown = fields.inputs;
  if (typeof inputs === 'string') {
    try {
      inputs = JSON.parse(inputs);
    } catch {
      throw new AppError('invalid_request', 'invalid model upload: inputs: must be a JSON array of input specs');
    }
  }
  return parseInput(ModelUploadMetaSchema, { name: fields.name, version: fields.version, inputs }, 'model upload');
}

@Injectable()
export class ModelsService {
  constructor(
    @Inject(ModelRepository) private readonly repo: ModelRepository,
    @Inject(CONFIG) private readonly config: Config,
    @Inject(VariantBuildQueue) private readonly variantQueue: VariantBuildQueue,
  ) {}

  artifactPath(sha256: string): string {
    return path.join(this.config.dataDir, 'artifacts', `${sha256}.onnx`);
  }

  /**
   * Who may download an artifact: an operator any known one; a device only one that its current or
   * previous signed desired state named (issue 10 item 6), so a device cannot fetch other devices'
   * models. An artifact a device may not have is 403 whether it exists or not.
   */
  async authoriseArtifact(who: { device: string } | 'operator', sha256: string): Promise<void> {
    if (who !== 'operator' && !(await this.repo.artifactsNamedFor(who.device, ARTIFACTS_PER_DEVICE)).includes(sha256)) {
      throw new AppError('forbidden', `artifact ${sha256} is not named by a current or previous desired state of device ${who.device}`);
    }
    if (!(await this.repo.artifactKnown(sha256))) throw new AppError('not_found', `artifact ${sha256} not found`);
  }

  /**
   * Registers an FP32 ONNX model version: the file is loaded by onnxruntime in a child process,
   * the input spec is checked against the graph and proven by one real inference; only then is
   * the artifact stored (content-addressed) and the version recorded. Nothing is stored on failure.
   */
  calibrationPath(sha256: string): string {
    return path.join(this.config.dataDir, 'calibration', `${sha256}.json`);
  }

  async upload(file: Buffer | undefined, fields: Record<string, unknown>, actor: string, calibration?: Buffer): Promise<ModelVersionView> {
    const meta = parseMeta(fields);
    if (!file || file.length === 0) throw new AppError('invalid_request', 'invalid model upload: file: an ONNX file is required');
    if (calibration) {
      try {
        JSON.parse(calibration.toString('utf8'));
      } catch {
        throw new AppError('invalid_request', 'invalid model upload: calibration: must be a JSON object { "<input name>": number[][] }');
      }
    }
    // Redis away: 503 before anything is stored, rather than a model whose variant builds were never queued
    if (this.config.VARIANT_BUILD === 'on') await this.variantQueue.assertReachable();
    const tmpDir = path.join(this.config.dataDir, 'tmp');
    await mkdir(tmpDir, { recursive: true });
    const tmp = path.join(tmpDir, `${randomUUID()}.onnx`);
    const specFile = `${tmp}.inputs.json`;
    const calibrationFile = `${tmp}.calibration.json`;
    try {
      await writeFile(tmp, file);
      await writeFile(specFile, JSON.stringify(meta.inputs));
      if (calibration) await writeFile(calibrationFile, calibration);
      const result = await inspectOnnx(tmp, specFile, calibration ? calibrationFile : undefined);
      if (result.stage === 'check') throw new AppError('invalid_model', result.message ?? 'the model cannot be registered');
      if (result.stage === 'calibration')
        throw new AppError('invalid_model', `the calibration data does not fit the input spec: ${result.message ?? ''}`);
      if (!result.graph) throw new AppError('invalid_model', `the file is not a loadable ONNX model: ${result.message ?? 'unknown error'}`);
      const problems = checkInputSpec(meta.inputs, result.graph);
      if (problems.length > 0) throw new AppError('invalid_model', `the input spec does not match the model: ${problems.join('; ')}`);
      if (!result.ok || !result.run)
        throw new AppError('invalid_model', `the model does not run with the input spec: ${result.message ?? 'unknown error'}`);
      const sha256 = sha256Hex(file);
      await mkdir(path.dirname(this.artifactPath(sha256)), { recursive: true });
      await rename(tmp, this.artifactPath(sha256));
      const calibrationSha256 = calibration ? sha256Hex(calibration) : null;
      if (calibration && calibrationSha256) {
        await mkdir(path.dirname(this.calibrationPath(calibrationSha256)), { recursive: true });
        await rename(calibrationFile, this.calibrationPath(calibrationSha256));
      }
      const cpu = cpus()[0]?.model ?? 'unknown CPU';
      const row = await this.repo.createVersion({
        ...meta,
        graph: result.graph,
        sha256,
        sizeBytes: file.length,
        // a short measurement at upload; the variant builder measures FP32 again with more runs
        measured: {
          machine: cpu,
          threads: 1,
          sizeBytes: file.length,
          loadMs: result.run.loadMs,
          latencyMs: result.run.latency,
          runs: result.run.runs,
          agreement: null,
          inputs: { source: 'generated', seed: null },
        } satisfies VariantMeasurement,
        createdBy: actor,
        calibrationSha256,
        pending: this.config.VARIANT_BUILD === 'on' ? [...VARIANT_METHODS] : [],
      });
      if (this.config.VARIANT_BUILD === 'on') await this.variantQueue.enqueue(row.id);
      return toView(row);
    } finally {
      await rm(tmp, { force: true });
      await rm(specFile, { force: true });
      await rm(calibrationFile, { force: true });
    }
  }

  async list(): Promise<ModelVersionView[]> {
    return (await this.repo.listVersions()).map(toView);
  }

  async get(id: string): Promise<ModelVersionView> {
    const row = await this.repo.getVersion(id);
    if (!row) throw new AppError('not_found', `model version ${id} not found`);
    return toView(row);
  }
}
