import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceRepository } from '../devices/device.repository.js';
import { freshDatabase } from '../test-support/harness.js';
import { AuditRepository } from './audit.repository.js';
import { createPrisma, type Db } from './prisma.js';
import { prismaOf, UnitOfWork, type AnyTx, type Tx } from './unit-of-work.js';

describe('UnitOfWork: one transaction across repositories', () => {
  let db: { url: string; drop: () => Promise<void> };
  let prisma: Db;
  let pool: pg.Pool;
  let uow: UnitOfWork;
  let devices: DeviceRepository;
  let audit: AuditRepository;
  const deviceId = randomUUID();

  beforeAll(async () => {
    db = await freshDatabase('ef_uow');
    prisma = createPrisma(db.url);
    pool = new pg.Pool({ connectionString: db.url, max: 4 });
    audit = new AuditRepository(pool);
    uow = new UnitOfWork(prisma, pool);
    devices = new DeviceRepository(prisma, pool);
    await pool.query(`INSERT INTO "HardwareProfile" (id, "hardwareClass", accelerator, spec) VALUES ('hp', 'cpu-small', 'none', '{}')`);
    await pool.query(
      `INSERT INTO "Device" (id, name, scenario, "hardwareProfileId", "secretHash") VALUES ($1, 'd', 'robotic_manipulation', 'hp', 'x')`,
      [deviceId],
    );
  });

  afterAll(async () => {
    await prisma?.$disconnect();
    await pool?.end();
    await db?.drop();
  });

  const state = async (): Promise<{ version: number; audits: number }> => {
    const v = await pool.query<{ v: number }>('SELECT "assignmentVersion" AS v FROM "Device" WHERE id = $1', [deviceId]);
    const a = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM "AuditEvent" WHERE "targetId" = $1`, [deviceId]);
    return { version: v.rows[0]?.v ?? -1, audits: a.rows[0]?.n ?? -1 };
  };

  /** Two repositories' writes, then a read that must see the first write. */
  const work = async (tx: AnyTx): Promise<number | undefined> => {
    await devices.nextAssignmentVersions(tx, [deviceId]);
    await audit.append(tx, { actor: 'test', action: 'uow.test', targetType: 'device', targetId: deviceId });
    return (await devices.nextAssignmentVersions(tx, [deviceId])).get(deviceId);
  };

  for (const kind of ['run', 'runBulk'] as const) {
    it(`${kind}: a failure anywhere undoes every repository's writes; success commits them together`, async () => {
      const before = await state();
      const failed = uow[kind](async (tx) => {
        await work(tx);
        throw new Error('boom');
      });
      await expect(failed).rejects.toThrow('boom');
      expect(await state()).toEqual(before);

      const second = await uow[kind]((tx) => work(tx));
      // the second bump saw the first one: both ran in the same transaction
      expect(second).toBe(before.version + 2);
      expect(await state()).toEqual({ version: before.version + 2, audits: before.audits + 1 });
    });
  }

  it('refuses a Prisma statement on a pg transaction instead of running it outside the transaction', async () => {
    await expect(uow.runBulk((tx) => Promise.resolve(prismaOf(tx as unknown as Tx)))).rejects.toThrow(
      'a Prisma statement was given a pg transaction',
    );
  });
});
