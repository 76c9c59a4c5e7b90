import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { topicOf, type EnrollResponse } from '@edge-fleet/shared';
import pg from 'pg';
import { DeviceMessagesHandler } from '../mqtt/device-messages.handler.js';
import { enrollDevice } from '../test-support/device-client.js';
import { reportedFixture } from '../test-support/reported-fixture.js';
import { startHarness, type Harness } from '../test-support/harness.js';
import { ReportedStateRepository } from './reported-state.repository.js';

let h: Harness;
let db: pg.Client;
const devices: EnrollResponse[] = [];
beforeAll(async () => {
  h = await startHarness();
  db = new pg.Client({ connectionString: h.dbUrl });
  await db.connect();
  for (let i = 0; i < 40; i++) devices.push(await enrollDevice(h, 'customer_support_agent'));
}, 120_000);
afterAll(async () => {
  await db.end();
  await h.close();
});

const report = reportedFixture;

/** Hands the reports to the device-message handler in one turn of the event loop, as a socket read from the broker does. */
function arriveTogether(reports: Record<string, unknown>[]): Promise<void[]> {
  const handler = h.cp.app.get(DeviceMessagesHandler);
  return Promise.all(reports.map((r) => handler.handle(topicOf('reported', r.deviceId as string), Buffer.from(JSON.stringify(r)))));
}

const phases = async (ids: string[]) =>
  new Map(
    (
      await db.query<{ deviceId: string; phase: string }>(
        `SELECT "deviceId", phase FROM "ReportedState" WHERE "deviceId" = ANY($1::uuid[])`,
        [ids],
      )
    ).rows.map((r) => [r.deviceId, r.phase]),
  );

describe('reported states arriving together', () => {
  it('issue 15: 40 devices’ reports handed over in one turn are checked and stored in one statement each, every one stored', async () => {
    const repo = h.cp.app.get(ReportedStateRepository);
    const refs = vi.spyOn(repo, 'reportRefs');
    const saves = vi.spyOn(repo, 'saveReported');
    try {
      await arriveTogether(devices.map((d) => report(d.deviceId, { phase: 'loading' })));
      expect(refs).toHaveBeenCalledTimes(1);
      expect(saves).toHaveBeenCalledTimes(1);
    } finally {
      refs.mockRestore();
      saves.mockRestore();
    }
    const stored = await phases(devices.map((d) => d.deviceId));
    expect([...stored.values()].filter((p) => p === 'loading')).toHaveLength(40);
  });

  it('a device reporting twice in one turn has both handled in arrival order: its later report is the one stored', async () => {
    const [a, b] = devices;
    if (!a || !b) throw new Error('devices not enrolled');
    const at = Date.now() + 500; // newer than the reports stored before (the skew allowed is seconds)
    await arriveTogether([
      report(a.deviceId, { phase: 'downloading', reportedAt: new Date(at).toISOString() }),
      report(b.deviceId, { phase: 'verifying' }),
      report(a.deviceId, { phase: 'running', reportedAt: new Date(at + 1).toISOString() }),
    ]);
    const stored = await phases([a.deviceId, b.deviceId]);
    expect(stored.get(a.deviceId)).toBe('running');
    expect(stored.get(b.deviceId)).toBe('verifying');
  });

  it('one report the database refuses becomes a dead letter alone: the others of its batch are stored', async () => {
    const poisonBoot = randomUUID();
    await db.query(`ALTER TABLE "ReportedState" ADD CONSTRAINT test_poison CHECK ("bootId" <> '${poisonBoot}')`);
    try {
      const batch = devices
        .slice(10, 20)
        .map((d, i) => report(d.deviceId, { phase: 'failed', ...(i === 3 ? { bootId: poisonBoot } : {}) }));
      await arriveTogether(batch);
      const poisoned = devices[13]?.deviceId ?? '';
      const stored = await phases(devices.slice(10, 20).map((d) => d.deviceId));
      expect(
        [...stored]
          .filter(([, p]) => p === 'failed')
          .map(([id]) => id)
          .sort(),
      ).toEqual(
        devices
          .slice(10, 20)
          .map((d) => d.deviceId)
          .filter((id) => id !== poisoned)
          .sort(),
      );
      const letters = await db.query<{ reason: string }>(
        `SELECT reason FROM "RejectedMessage" WHERE "deviceId" = $1 AND code = 'reported'`,
        [poisoned],
      );
      expect(letters.rows.map((r) => r.reason)).toEqual([expect.stringContaining('database refused the report')]);
    } finally {
      await db.query(`ALTER TABLE "ReportedState" DROP CONSTRAINT test_poison`);
    }
  });
});
