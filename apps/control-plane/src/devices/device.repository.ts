import { Inject, Injectable } from '@nestjs/common';
import type { DeviceStatus, HardwareProfile, Scenario } from '@edge-fleet/shared';
import type { Prisma } from '../generated/prisma/client.js';
import { AppError } from '../errors.js';
import { appendAudit } from '../infra/audit.repository.js';
import type { Db } from '../infra/prisma.js';
import { sha256Hex } from '../infra/secrets.js';
import { PRISMA } from '../infra/tokens.js';

export interface NewEnrollmentToken {
  tokenHash: string;
  scenario: Scenario;
  labels: Record<string, string>;
  maxUses: number;
  expiresAt: Date;
  createdBy: string;
}

export interface NewDevice {
  id: string;
  name: string;
  secretHash: string;
  hardwareProfile: HardwareProfile;
}

export interface DeviceListQuery {
  page: number;
  pageSize: number;
  scenario?: Scenario | undefined;
  status?: DeviceStatus | undefined;
  search?: string | undefined;
}

const deviceSummarySelect = {
  id: true,
  name: true,
  scenario: true,
  status: true,
  labels: true,
  lastSeenAt: true,
  enrolledAt: true,
  assignmentVersion: true,
  hardwareProfile: { select: { hardwareClass: true, accelerator: true, spec: true } },
  reported: { select: { phase: true, activeVariantId: true, appliedAssignmentVersion: true, reportedAt: true, payload: true } },
} satisfies Prisma.DeviceSelect;

export type DeviceSummaryRow = Prisma.DeviceGetPayload<{ select: typeof deviceSummarySelect }>;

@Injectable()
export class DeviceRepository {
  constructor(@Inject(PRISMA) private readonly db: Db) {}

  async createEnrollmentToken(t: NewEnrollmentToken): Promise<{ id: string; expiresAt: Date }> {
    return this.db.$transaction(async (tx) => {
      const row = await tx.enrollmentToken.create({ data: t, select: { id: true, expiresAt: true } });
      await appendAudit(tx, {
        actor: t.createdBy,
        action: 'enrollment_token.create',
        targetType: 'enrollment_token',
        targetId: row.id,
        details: { scenario: t.scenario, maxUses: t.maxUses, expiresAt: t.expiresAt.toISOString() },
      });
      return row;
    });
  }

  /** Consumes one use of the token and creates the device, atomically. */
  async enroll(tokenHash: string, d: NewDevice, now: Date): Promise<{ scenario: Scenario }> {
    return this.db.$transaction(async (tx) => {
      const token = await tx.enrollmentToken.findUnique({ where: { tokenHash } });
      if (!token) throw new AppError('unauthorized', 'enrollment token is not valid');
      if (token.revokedAt) throw new AppError('unauthorized', 'enrollment token has been revoked');
      if (token.expiresAt <= now) throw new AppError('unauthorized', 'enrollment token has expired');
      const used = await tx.enrollmentToken.updateMany({
        where: { id: token.id, uses: { lt: token.maxUses } },
        data: { uses: { increment: 1 } },
      });
      if (used.count === 0) throw new AppError('unauthorized', 'enrollment token has already been used');
      const profileId = sha256Hex(JSON.stringify(d.hardwareProfile));
      // devices with the same hardware enrolling at the same moment: an upsert would race on the key
      await tx.$executeRaw`
        INSERT INTO "HardwareProfile" (id, "hardwareClass", accelerator, spec)
        VALUES (${profileId}, ${d.hardwareProfile.hardwareClass}, ${d.hardwareProfile.accelerator}, ${JSON.stringify(d.hardwareProfile)}::jsonb)
        ON CONFLICT (id) DO NOTHING`;
      await tx.device.create({
        data: {
          id: d.id,
          name: d.name,
          scenario: token.scenario,
          labels: token.labels ?? {},
          secretHash: d.secretHash,
          hardwareProfileId: profileId,
          enrollmentTokenId: token.id,
        },
      });
      await appendAudit(tx, {
        actor: `enrollment_token:${token.id}`,
        action: 'device.enroll',
        targetType: 'device',
        targetId: d.id,
        details: { scenario: token.scenario, hardwareClass: d.hardwareProfile.hardwareClass },
      });
      return { scenario: token.scenario as Scenario };
    });
  }

  async list(q: DeviceListQuery): Promise<{ items: DeviceSummaryRow[]; total: number }> {
    const where: Prisma.DeviceWhereInput = {
      ...(q.scenario ? { scenario: q.scenario } : {}),
      ...(q.status ? { status: q.status } : {}),
      ...(q.search ? { name: { contains: q.search, mode: 'insensitive' } } : {}),
    };
    const [items, total] = await Promise.all([
      this.db.device.findMany({
        where,
        select: deviceSummarySelect,
        orderBy: [{ enrolledAt: 'asc' }, { id: 'asc' }],
        skip: (q.page - 1) * q.pageSize,
        take: q.pageSize,
      }),
      this.db.device.count({ where }),
    ]);
    return { items, total };
  }

  async get(id: string): Promise<DeviceSummaryRow | null> {
    return this.db.device.findUnique({ where: { id }, select: deviceSummarySelect });
  }

  async credentials(id: string): Promise<{ secretHash: string; status: string } | null> {
    return this.db.device.findUnique({ where: { id }, select: { secretHash: true, status: true } });
  }

  async setPresence(id: string, status: 'online' | 'offline', bootId: string | null, at: Date): Promise<void> {
    await this.db.device.updateMany({
      where: { id, status: { not: 'revoked' } },
      data: { status, lastSeenAt: at, ...(bootId ? { bootId } : {}) },
    });
  }

  async countsByStatus(): Promise<{ status: string; count: number }[]> {
    const rows = await this.db.device.groupBy({ by: ['status'], _count: { _all: true } });
    return rows.map((r) => ({ status: r.status, count: r._count._all }));
  }

  async countsByScenario(): Promise<{ scenario: string; status: string; count: number }[]> {
    const rows = await this.db.device.groupBy({ by: ['scenario', 'status'], _count: { _all: true } });
    return rows.map((r) => ({ scenario: r.scenario, status: r.status, count: r._count._all }));
  }
}
