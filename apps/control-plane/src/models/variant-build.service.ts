import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Inject, Injectable } from '@nestjs/common';
import type { VariantMeasurement } from '@edge-fleet/shared';
import type { Config } from '../config.js';
import type { Logger } from '../infra/logger.js';
import { sha256Hex } from '../infra/secrets.js';
import { CONFIG, LOGGER } from '../infra/tokens.js';
import { ModelRepository, type BuiltVariant } from './model.repository.js';
import { ModelsService } from './models.service.js';
import { runVariantBuilder, type BuildReport, type BuilderMeasurement } from './variant-build.runner.js';

function measurement(m: BuilderMeasurement, r: BuildReport): VariantMeasurement {
  return {
    machine: r.machine.cpuModel,
    threads: r.machine.intraOpThreads,
    sizeBytes: m.sizeBytes,
    loadMs: m.loadMs,
    latencyMs: { p50: m.latencyMs.p50, p95: m.latencyMs.p95 ?? null, p99: m.latencyMs.p99 },
    runs: m.latencyMs.runs,
    agreement: m.agreement
      ? { maxAbsError: m.agreement.maxAbsError, cosine: m.agreement.cosine, top1: m.agreement.top1 ?? null, samples: r.evaluation.samples }
      : null,
    inputs: { source: r.evaluation.source === 'supplied' ? 'uploaded' : 'generated', seed: r.evaluation.seed ?? null },
    ...(r.referenceBenchmark ? { referenceBenchmark: r.referenceBenchmark } : {}),
  };
}

/** A built variant's measurement, with the opset upgrade it was built from (never on FP32: that is the uploaded file). */
function variantMeasurement(m: BuilderMeasurement, r: BuildReport): VariantMeasurement {
  const u = r.upgrade;
  const upgrade = u ? { fromOpset: u.fromOpset, toOpset: u.toOpset, maxAbsError: u.maxAbsError, samples: u.samples } : undefined;
  return { ...measurement(m, r), ...(upgrade ? { opsetUpgrade: upgrade } : {}) };
}

/**
 * Builds and measures the FP16/INT8/INT4 variants of one model version (the BullMQ job's body).
 * Idempotent: a version whose variants all have an outcome is left alone; artifacts are
 * content-addressed, so a re-run after a crash writes the same files.
 */
@Injectable()
export class VariantBuildService {
  private readonly log: Logger;

  constructor(
    @Inject(ModelRepository) private readonly repo: ModelRepository,
    @Inject(ModelsService) private readonly models: ModelsService,
    @Inject(CONFIG) private readonly config: Config,
    @Inject(LOGGER) logger: Logger,
  ) {
    this.log = logger.child('variant-build');
  }

  async build(modelVersionId: string): Promise<void> {
    const v = await this.repo.versionForBuild(modelVersionId);
    if (!v?.pending) return;
    const tmpRoot = path.join(this.config.dataDir, 'tmp');
    await mkdir(tmpRoot, { recursive: true });
    const work = await mkdtemp(path.join(tmpRoot, 'variants-'));
    try {
      await writeFile(path.join(work, 'inputs.json'), JSON.stringify(v.inputs));
      const started = Date.now();
      const report = await runVariantBuilder(
        this.models.artifactPath(v.fp32Sha256),
        path.join(work, 'inputs.json'),
        path.join(work, 'out'),
        {
          runs: this.config.VARIANT_BENCH_RUNS,
          timeoutMs: 20 * 60_000,
          calibrationPath: v.calibrationSha256 ? this.models.calibrationPath(v.calibrationSha256) : null,
        },
      );
      const variants: BuiltVariant[] = [];
      for (const r of report.variants) variants.push(await this.store(r, report));
      await this.repo.saveBuild(modelVersionId, measurement(report.fp32.measured, report), variants);
      this.log.info('variants built', {
        modelVersionId,
        ms: Date.now() - started,
        outcomes: variants.map((x) => `${x.method}:${x.status}`).join(' '),
      });
    } catch (e) {
      const reason = e instanceof Error ? e.message : String(e);
      this.log.error('variant build failed', { modelVersionId, reason });
      await this.repo.failPending(modelVersionId, reason.slice(0, 2_000));
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }

  private async store(r: BuildReport['variants'][number], report: BuildReport): Promise<BuiltVariant> {
    const base = { method: r.method, precision: r.precision, status: r.status, reason: r.reason ?? null };
    if (!r.file || (r.status !== 'ready' && r.status !== 'unusable'))
      return { ...base, sha256: null, sizeBytes: null, measured: r.measured ? variantMeasurement(r.measured, report) : null };
    const bytes = await readFile(r.file);
    const sha = sha256Hex(bytes);
    await rename(r.file, this.models.artifactPath(sha));
    return { ...base, sha256: sha, sizeBytes: bytes.length, measured: r.measured ? variantMeasurement(r.measured, report) : null };
  }
}
