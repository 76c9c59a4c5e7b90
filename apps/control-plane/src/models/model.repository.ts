import { Inject, Injectable } from '@nestjs/common';
import type { InputSpec } from '@edge-fleet/shared';
import type { Prisma } from '../generated/prisma/client.js';
import { AppError } from '../errors.js';
import { appendAudit } from '../infra/audit.repository.js';
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
}

const versionSelect = {
  id: true,
  version: true,
  inputs: true,
  graph: true,
  createdAt: true,
  model: { select: { id: true, name: true } },
  variants: { select: { id: true, precision: true, method: true, sha256: true, sizeBytes: true, status: true, reason: true, measured: true }, orderBy: { createdAt: 'asc' } },
  policies: { select: { scenario: true } },
} satisfies Prisma.ModelVersionSelect;

export type ModelVersionRow = Prisma.ModelVersionGetPayload<{ select: typeof versionSelect }>;

@Injectable()
export class ModelRepository {
  constructor(@Inject(PRISMA) private readonly db: Db) {}

  async createVersion(v: NewModelVersion): Promise<ModelVersionRow> {
    return this.db.$transaction(async (tx) => {
      const model = await tx.model.upsert({ where: { name: v.name }, create: { name: v.name }, update: {}, select: { id: true } });
      const clash = await tx.modelVersion.findUnique({ where: { modelId_version: { modelId: model.id, version: v.version } }, select: { id: true } });
      if (clash) throw new AppError('conflict', `model ${v.name} already has a version ${v.version}`);
      const created = await tx.modelVersion.create({
        data: {
          modelId: model.id,
          version: v.version,
          inputs: v.inputs,
          graph: v.graph,
          createdBy: v.createdBy,
          variants: { create: { precision: 'fp32', method: 'fp32', sha256: v.sha256, sizeBytes: v.sizeBytes, measured: v.measured } },
        },
        select: versionSelect,
      });
      await appendAudit(tx, {
        actor: v.createdBy,
        action: 'model_version.create',
        targetType: 'model_version',
        targetId: created.id,
        details: { name: v.name, version: v.version, sha256: v.sha256, sizeBytes: v.sizeBytes },
      });
      return created;
    });
  }

  async listVersions(): Promise<ModelVersionRow[]> {
    return this.db.modelVersion.findMany({ select: versionSelect, orderBy: { createdAt: 'desc' }, take: 500 });
  }

  async getVersion(id: string): Promise<ModelVersionRow | null> {
    return this.db.modelVersion.findUnique({ where: { id }, select: versionSelect });
  }

  async artifactKnown(sha256: string): Promise<boolean> {
    return (await this.db.modelVariant.count({ where: { sha256 } })) > 0;
  }
}
