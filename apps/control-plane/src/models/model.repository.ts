import { Inject, Injectable } from '@nestjs/common';
import type { InputSpec } from '@edge-fleet/shared';
import { Prisma } from '../generated/prisma/client.js';
import { AppError } from '../errors.js';
import { appendAudit } from '../infra/audit.repository.js';
import { asTx } from '../infra/unit-of-work.js';
import type { Db } from '../infra/prisma.js';
import { PRISMA } from '../infra/tokens.js';

export interface NewModelVersion {
  name: string;
  version: string;
  inputs: InputSpec[];
  graph: Prisma.InputJsonValue;
  sha256: string;
  sizeBytes: number;
  measured: Prisma.InputJsonValue;
  createdBy: string;
  calibrationSha256: string | null;
  /** Variants the builder will produce; rows are created now with status `building`. */
  pending: { method: string; precision: string }[];
}

export interface BuiltVariant {
  method: string;
  precision: string;
  status: 'ready' | 'not_applicable' | 'failed' | 'unusable';
  reason: string | null;
  sha256: string | null;
  sizeBytes: number | null;
  measured: Prisma.InputJsonValue | null;
}

const versionSelect = {
  id: true,
  version: true,
  inputs: true,
  graph: true,
  calibrationSha256: true,
  createdAt: true,
  model: { select: { id: true, name: true } },
  variants: {
    select: { id: true, precision: true, method: true, sha256: true, sizeBytes: true, status: true, reason: true, measured: true },
    orderBy: { createdAt: 'asc' },
  },
  policies: { select: { scenario: true } },
} satisfies Prisma.ModelVersionSelect;

export type ModelVersionRow = Prisma.ModelVersionGetPayload<{ select: typeof versionSelect }>;

@Injectable()
export class ModelRepository {
  constructor(@Inject(PRISMA) private readonly db: Db) {}

  async createVersion(v: NewModelVersion): Promise<ModelVersionRow> {
    const id = await this.db.$transaction(async (tx) => {
      const model = await tx.model.upsert({ where: { name: v.name }, create: { name: v.name }, update: {}, select: { id: true } });
      const clash = await tx.modelVersion.findUnique({
        where: { modelId_version: { modelId: model.id, version: v.version } },
        select: { id: true },
      });
      if (clash) throw new AppError('conflict', `model ${v.name} already has a version ${v.version}`);
      const created = await tx.modelVersion.create({
        data: {
          modelId: model.id,
          version: v.version,
          inputs: v.inputs,
          graph: v.graph,
          createdBy: v.createdBy,
          calibrationSha256: v.calibrationSha256,
          variants: {
            create: [
              { precision: 'fp32', method: 'fp32', sha256: v.sha256, sizeBytes: v.sizeBytes, measured: v.measured },
              ...v.pending.map((p) => ({ precision: p.precision, method: p.method, status: 'building' })),
            ],
          },
        },
        // only the id: Prisma reads a select's relations concurrently, and a transaction's queries all go
        // through its one pg connection, which would then be handed a query while it runs another
        // (deprecated by pg 8, refused by pg 9); the whole row is read once the version is committed
        select: { id: true },
      });
      await appendAudit(asTx(tx), {
        actor: v.createdBy,
        action: 'model_version.create',
        targetType: 'model_version',
        targetId: created.id,
        details: { name: v.name, version: v.version, sha256: v.sha256, sizeBytes: v.sizeBytes },
      });
      return created.id;
    });
    const row = await this.getVersion(id);
    if (!row) throw new AppError('not_found', `model version ${id} was removed as it was being created`);
    return row;
  }

  async listVersions(): Promise<ModelVersionRow[]> {
    return this.db.modelVersion.findMany({ select: versionSelect, orderBy: { createdAt: 'desc' }, take: 500 });
  }

  async getVersion(id: string): Promise<ModelVersionRow | null> {
    return this.db.modelVersion.findUnique({ where: { id }, select: versionSelect });
  }

  /** What the variant builder needs; `pending` is false once every variant has an outcome. */
  async versionForBuild(
    id: string,
  ): Promise<{ fp32Sha256: string; inputs: InputSpec[]; calibrationSha256: string | null; pending: boolean } | null> {
    const v = await this.db.modelVersion.findUnique({
      where: { id },
      select: { inputs: true, calibrationSha256: true, variants: { select: { method: true, status: true, sha256: true } } },
    });
    const fp32 = v?.variants.find((x) => x.method === 'fp32');
    if (!v || !fp32?.sha256) return null;
    return {
      fp32Sha256: fp32.sha256,
      inputs: v.inputs as InputSpec[],
      calibrationSha256: v.calibrationSha256,
      pending: v.variants.some((x) => x.status === 'building'),
    };
  }

  /** Records the builder's outcome for every method, and the FP32 baseline's measurement. */
  async saveBuild(id: string, fp32Measured: Prisma.InputJsonValue, variants: BuiltVariant[]): Promise<void> {
    await this.db.$transaction(async (tx) => {
      await tx.modelVariant.update({
        where: { modelVersionId_method: { modelVersionId: id, method: 'fp32' } },
        data: { measured: fp32Measured },
      });
      for (const b of variants) {
        const data = {
          precision: b.precision,
          status: b.status,
          reason: b.reason,
          sha256: b.sha256,
          sizeBytes: b.sizeBytes,
          measured: b.measured ?? Prisma.JsonNull,
        };
        await tx.modelVariant.upsert({
          where: { modelVersionId_method: { modelVersionId: id, method: b.method } },
          create: { modelVersionId: id, method: b.method, ...data },
          update: data,
        });
      }
      await appendAudit(asTx(tx), {
        actor: 'system',
        action: 'model_version.variants_built',
        targetType: 'model_version',
        targetId: id,
        details: { variants: variants.map((b) => ({ method: b.method, status: b.status, reason: b.reason })) },
      });
    });
  }

  /** Marks every variant still building as failed (the whole build could not run). */
  async failPending(id: string, reason: string): Promise<void> {
    await this.db.modelVariant.updateMany({ where: { modelVersionId: id, status: 'building' }, data: { status: 'failed', reason } });
  }

  async artifactKnown(sha256: string): Promise<boolean> {
    return (await this.db.modelVariant.count({ where: { sha256 } })) > 0;
  }

  /**
   * The artifacts the device's most recent signed desired states named, newest first, at most
   * `take` distinct variants (the current one and the one before it). A rollback is itself a new
   * desired state, so its target is among them.
   */
  async artifactsNamedFor(deviceId: string, take: number): Promise<string[]> {
    const recent = await this.db.assignment.groupBy({
      by: ['modelVariantId'],
      where: { deviceId, modelVariantId: { not: null } },
      _max: { version: true },
      orderBy: { _max: { version: 'desc' } },
      take,
    });
    const ids = recent.flatMap((r) => (r.modelVariantId === null ? [] : [r.modelVariantId]));
    const variants = await this.db.modelVariant.findMany({ where: { id: { in: ids } }, select: { sha256: true } });
    return variants.flatMap((v) => (v.sha256 === null ? [] : [v.sha256]));
  }
}
