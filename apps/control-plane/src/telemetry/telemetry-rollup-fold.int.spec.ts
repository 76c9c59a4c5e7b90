import { randomUUID } from 'node:crypto';
import { waitFor } from '@edge-fleet/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePayload, topics, type EnrollResponse } from '@edge-fleet/shared';
import pg from 'pg';
import { AuditPageSchema, ParkedWindowsSchema, RequeuedParkedSchema } from '@edge-fleet/shared/api';
import { ApiTokenRepository } from '../auth/api-token.repository.js';
import { newSecret, sha256Hex } from '../infra/secrets.js';
import { enrollDevice, telemetryWindow } from '../test-support/device-client.js';
import { jsonPost, startHarness, type Harness } from '../test-support/harness.js';
import { type FoldPass, TelemetryRollupFoldService } from './telemetry-rollup-fold.service.js';
import { TelemetryRollupRepository } from './telemetry-rollup.repository.js';

const FOLD_LOCK = 0x7e1e_0002;
let h: Harness;
let db: pg.Client;
let folds: TelemetryRollupFoldService;
beforeAll(async () => {
  // the default TELEMETRY_ROLLUPS (fold), folded by the worker's job every 300 ms; a device may send
  // many windows in one minute here, so that they all land in the same minute rollup
  h = await startHarness({ TELEMETRY_ROLLUP_FOLD_MS: '300', TELEMETRY_QUOTA_SLACK: '100' });
  db = new pg.Client({ connectionString: h.dbUrl });
  await db.connect();
  folds = h.cp.app.get(TelemetryRollupFoldService);
});
afterAll(async () => {
  await db.end();
  await h.close();
});

/** `count` one-second windows, all within the minute two minutes ago (one minute rollup, one hour rollup). */
async function sendWindows(d: EnrollResponse, boot: string, from: number, count: number): Promise<void> {
  const minute = Math.floor(Date.now() / 60_000) * 60_000 - 120_000;
  for (let seq = from; seq < from + count; seq++) {
    const start = minute + (seq % 50) * 1_000;
    const w = telemetryWindow(d.deviceId, boot, seq, {
      windowStart: new Date(start).toISOString(),
      windowEnd: new Date(start + 1_000).toISOString(),
      inferences: 10 + seq,
    });
    const bytes = Buffer.from(JSON.stringify(w));
    const r = await h.cp.ingest.accept(topics.telemetry(d.deviceId), parsePayload('telemetry', d.deviceId, bytes), bytes);
    expect(r).toEqual({ ok: true });
  }
}

const rollupsOf = async (deviceId: string) =>
  (
    await db.query<{ bucketSeconds: number; windows: number; inferences: string }>(
      `SELECT "bucketSeconds", windows, inferences FROM "TelemetryDeviceRollup" WHERE "deviceId" = $1 ORDER BY "bucketSeconds"`,
      [deviceId],
    )
  ).rows.map((r) => ({ ...r, inferences: Number(r.inferences) }));

/** A device's windows in one of the fold's tables (waiting for it, or set aside by it). */
const windowsIn = (table: 'TelemetryRollupPending' | 'TelemetryRollupParked') => async (deviceId: string) =>
  Number(
    (
      await db.query<{ n: string }>(
        `SELECT count(*) AS n FROM "${table}" p JOIN "TelemetryWindow" w ON w.id = p."windowId" WHERE w."deviceId" = $1`,
        [deviceId],
      )
    ).rows[0]?.n,
  );
const pendingOf = windowsIn('TelemetryRollupPending');
const parkedOf = windowsIn('TelemetryRollupParked');

/** Runs `fn` while the fold's advisory lock is held, as another worker's fold in progress holds it. */
async function whileFoldLocked(fn: () => Promise<void>): Promise<void> {
  const lock = new pg.Client({ connectionString: h.dbUrl });
  await lock.connect();
  try {
    await lock.query('SELECT pg_advisory_lock($1)', [FOLD_LOCK]);
    await fn();
  } finally {
    await lock.query('SELECT pg_advisory_unlock($1)', [FOLD_LOCK]);
    await lock.end();
  }
}

/** One fold of our own, trying again while the worker's scheduled fold holds the lock. */
async function foldOnce(): Promise<FoldPass> {
  for (;;) {
    const r = await folds.fold();
    if (!r.locked) return r;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('telemetry rollups folded by the worker, off the ingest transaction (issue 15)', () => {
  it('a stored window waits in the pending table until a fold adds it; a fold finding another one running leaves everything to it', async () => {
    const d = await enrollDevice(h, 'robotic_manipulation', 'robot-npu-arm');
    await whileFoldLocked(async () => {
      // another worker's fold in progress: its advisory lock held
      await sendWindows(d, randomUUID(), 0, 4);
      expect(await pendingOf(d.deviceId)).toBe(4);
      // the windows are stored (and acknowledged) before any rollup has them: readers lag until the fold
      expect(await rollupsOf(d.deviceId)).toEqual([]);
      expect(await folds.fold()).toEqual({ taken: 0, folded: 0, parked: 0, locked: true });
      expect(await pendingOf(d.deviceId)).toBe(4);
      expect(await rollupsOf(d.deviceId)).toEqual([]);
    });
    await folds.drain();
    expect(await pendingOf(d.deviceId)).toBe(0);
    const inferences = 10 + 11 + 12 + 13;
    expect(await rollupsOf(d.deviceId)).toEqual([
      { bucketSeconds: 60, windows: 4, inferences },
      { bucketSeconds: 3_600, windows: 4, inferences },
    ]);
  }, 60_000);

  it('/metrics reports the fold backlog: edge_fleet_telemetry_rollups_pending_windows counts the windows waiting for the fold', async () => {
    const d = await enrollDevice(h, 'robotic_manipulation', 'robot-npu-arm');
    const scrape = async () => {
      const text = await (await fetch(`${h.cp.url}/metrics`)).text();
      const line = text.split('\n').find((l) => l.startsWith('edge_fleet_telemetry_rollups_pending_windows{'));
      return line === undefined ? Number.NaN : Number(line.slice(line.lastIndexOf(' ') + 1));
    };
    await whileFoldLocked(async () => {
      await sendWindows(d, randomUUID(), 0, 7);
      // every pending row of the database (other tests' windows may wait too), read at the scrape
      const total = Number((await db.query<{ n: string }>(`SELECT count(*) AS n FROM "TelemetryRollupPending"`)).rows[0]?.n);
      expect(total).toBeGreaterThanOrEqual(7);
      expect(await scrape()).toBe(total);
    });
    await folds.drain();
    expect(await scrape()).toBe(0);
  }, 60_000);

  it('the fold-backlog gauge counts at most its cap: a backlog above it reads as the cap, one below it exactly', async () => {
    const d = await enrollDevice(h, 'robotic_manipulation', 'robot-npu-arm');
    const rollups = h.cp.app.get(TelemetryRollupRepository);
    await whileFoldLocked(async () => {
      await sendWindows(d, randomUUID(), 0, 5);
      const total = Number((await db.query<{ n: string }>(`SELECT count(*) AS n FROM "TelemetryRollupPending"`)).rows[0]?.n);
      expect(total).toBeGreaterThanOrEqual(5);
      expect(await rollups.windowsUpTo('pending', 3)).toBe(3);
      expect(await rollups.windowsUpTo('pending', total + 10)).toBe(total);
    });
    await folds.drain();
  }, 60_000);

  it('row 26 (the fold): a window whose rollup the database refuses is set aside with the reason, and every other window is folded; moved back once fixed, each counts exactly once', async () => {
    const poisoned = await enrollDevice(h, 'financial_trading', 'edge-npu-trading');
    const other = await enrollDevice(h, 'robotic_manipulation', 'robot-npu-arm');
    const boot = randomUUID();
    await sendWindows(poisoned, boot, 0, 3);
    await folds.drain();
    // the device's minute rollup at int4's last value: any window more overflows it (no real device
    // gets there under the quota; a hand-edited or corrupted row does)
    await db.query(`UPDATE "TelemetryDeviceRollup" SET windows = 2147483647 WHERE "deviceId" = $1 AND "bucketSeconds" = 60`, [
      poisoned.deviceId,
    ]);
    const groupsOf = async (scenario: string) =>
      (
        await db.query<Record<string, unknown>>(`SELECT * FROM "TelemetryGroupRollup" WHERE scenario = $1 ORDER BY 1, 2, 3, 4, 5, 6`, [
          scenario,
        ])
      ).rows;
    const groupsBefore = await groupsOf('financial_trading');
    const deviceBefore = await rollupsOf(poisoned.deviceId);
    // both devices' windows stored before any fold sees them, so that one fold meets them together
    await whileFoldLocked(async () => {
      await sendWindows(poisoned, boot, 3, 2);
      await sendWindows(other, randomUUID(), 0, 2);
    });
    // (the worker's scheduled fold may be the one that meets them)
    expect((await folds.drain()).taken).toBeGreaterThanOrEqual(0);
    // the other device's windows are folded beside them
    expect(await rollupsOf(other.deviceId)).toEqual([
      { bucketSeconds: 60, windows: 2, inferences: 21 },
      { bucketSeconds: 3_600, windows: 2, inferences: 21 },
    ]);
    // the refused windows are in no rollup and no longer pending: parked, with the database's reason
    expect(await rollupsOf(poisoned.deviceId)).toEqual(deviceBefore);
    expect(await groupsOf('financial_trading')).toEqual(groupsBefore);
    expect(await pendingOf(poisoned.deviceId)).toBe(0);
    const parked = await db.query<{ reason: string }>(
      `SELECT p.reason FROM "TelemetryRollupParked" p JOIN "TelemetryWindow" w ON w.id = p."windowId" WHERE w."deviceId" = $1`,
      [poisoned.deviceId],
    );
    expect(parked.rows).toHaveLength(2);
    for (const r of parked.rows) expect(r.reason).toMatch(/out of range/);
    const text = await (await fetch(`${h.cp.url}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith('edge_fleet_telemetry_rollups_parked_windows{'));
    expect(Number(line?.slice(line.lastIndexOf(' ') + 1))).toBeGreaterThanOrEqual(2);
    // later folds go on: nothing stays stuck behind the refused windows
    await sendWindows(other, randomUUID(), 10, 1);
    await folds.drain();
    expect((await rollupsOf(other.deviceId))[0]?.windows).toBe(3);

    // the cause fixed, the requeue (what the API's runs) moves them back, and the next fold adds each once
    await db.query(`UPDATE "TelemetryDeviceRollup" SET windows = 3 WHERE "deviceId" = $1 AND "bucketSeconds" = 60`, [poisoned.deviceId]);
    expect((await folds.requeueParked('test', 'rollup row repaired')).requeued).toBeGreaterThanOrEqual(2);
    await folds.drain();
    const inferences = [0, 1, 2, 3, 4].reduce((s, seq) => s + 10 + seq, 0);
    expect(await rollupsOf(poisoned.deviceId)).toEqual([
      { bucketSeconds: 60, windows: 5, inferences },
      { bucketSeconds: 3_600, windows: 5, inferences },
    ]);
    expect(await pendingOf(poisoned.deviceId)).toBe(0);
    expect(await parkedOf(poisoned.deviceId)).toBe(0);
  }, 60_000);

  it('the parked windows through the API: an unscoped reader sees how many and why; only an admin moves them back (audited), and the next fold adds each once', async () => {
    const d = await enrollDevice(h, 'autonomous_driving', 'edge-dsa-vehicle');
    // two windows as the fold sets aside a refused one: off the pending table, into the parked one
    await whileFoldLocked(async () => {
      await sendWindows(d, randomUUID(), 0, 2);
      await db.query(
        `WITH p AS (DELETE FROM "TelemetryRollupPending" WHERE "windowId" IN (SELECT id FROM "TelemetryWindow" WHERE "deviceId" = $1) RETURNING *)
        INSERT INTO "TelemetryRollupParked" ("windowId", "windowStart", reason) SELECT "windowId", "windowStart", 'integer out of range (test)' FROM p`,
        [d.deviceId],
      );
    });
    const tokens = h.cp.app.get(ApiTokenRepository);
    const token = async (role: 'operator' | 'admin', scenarios?: string[]) => {
      const t = `eft_op_${newSecret()}`;
      await tokens.create({ name: `parked ${role} ${randomUUID()}`, tokenHash: sha256Hex(t), role, scenarios });
      return (path: string, init: RequestInit = {}) =>
        fetch(`${h.cp.url}${path}`, {
          ...init,
          headers: { authorization: `Bearer ${t}`, 'content-type': 'application/json', ...(init.headers ?? {}) },
        });
    };
    const operator = await token('operator');
    const scopedAdmin = await token('admin', ['autonomous_driving']);

    const read = await operator('/api/v1/telemetry/rollups/parked');
    expect(read.status).toBe(200);
    const parked = ParkedWindowsSchema.parse(await read.json());
    expect(parked.windows).toBeGreaterThanOrEqual(2);
    expect(parked.reasons).toContainEqual(expect.objectContaining({ reason: 'integer out of range (test)', windows: 2 }));
    // windows of any device: a scoped token reads none of them, and moves none back
    expect((await scopedAdmin('/api/v1/telemetry/rollups/parked')).status).toBe(403);
    const requeue = '/api/v1/telemetry/rollups/parked/requeue';
    const body = JSON.stringify({ reason: 'rollup row repaired' });
    expect((await scopedAdmin(requeue, { method: 'POST', body })).status).toBe(403);
    expect((await operator(requeue, { method: 'POST', body })).status).toBe(403);
    const bad = await jsonPost(h, requeue, {});
    expect(bad.status).toBe(400);
    expect(await bad.text()).toMatch(/reason/);
    expect(await parkedOf(d.deviceId)).toBe(2);
    expect(await rollupsOf(d.deviceId)).toEqual([]);

    const done = await jsonPost(h, requeue, { reason: 'rollup row repaired' });
    expect(done.status).toBe(200);
    expect(RequeuedParkedSchema.parse(await done.json()).requeued).toBeGreaterThanOrEqual(2);
    expect(await parkedOf(d.deviceId)).toBe(0);
    await folds.drain();
    expect(await rollupsOf(d.deviceId)).toEqual([
      { bucketSeconds: 60, windows: 2, inferences: 21 },
      { bucketSeconds: 3_600, windows: 2, inferences: 21 },
    ]);
    const audit = AuditPageSchema.parse(await (await h.api('/api/v1/audit?action=telemetry.rollups_requeued')).json());
    expect(audit.items[0]?.details).toMatchObject({ reason: 'rollup row repaired' });
  }, 60_000);

  it('a fold that fails for any other reason than its data (a missing table here) changes nothing and sets nothing aside; the next fold adds each window once', async () => {
    const d = await enrollDevice(h, 'customer_support_agent', 'edge-gpu-kiosk');
    await whileFoldLocked(async () => {
      await sendWindows(d, randomUUID(), 0, 2);
      // the group rollups' table out of reach: the upsert fails on the statement, not on a row
      await db.query(`ALTER TABLE "TelemetryGroupRollup" RENAME TO "TelemetryGroupRollupAway"`);
    });
    try {
      await expect(foldOnce()).rejects.toThrow(/does not exist/);
      expect(await pendingOf(d.deviceId)).toBe(2);
      expect(await rollupsOf(d.deviceId)).toEqual([]);
      expect(await parkedOf(d.deviceId)).toBe(0);
    } finally {
      await db.query(`ALTER TABLE "TelemetryGroupRollupAway" RENAME TO "TelemetryGroupRollup"`);
    }
    await folds.drain();
    expect(await rollupsOf(d.deviceId)).toEqual([
      { bucketSeconds: 60, windows: 2, inferences: 21 },
      { bucketSeconds: 3_600, windows: 2, inferences: 21 },
    ]);
  }, 60_000);

  it("the worker's scheduled fold-telemetry-rollups job folds new windows on its own, every TELEMETRY_ROLLUP_FOLD_MS", async () => {
    const d = await enrollDevice(h, 'customer_support_agent', 'edge-gpu-kiosk');
    await sendWindows(d, randomUUID(), 0, 3);
    const inferences = 10 + 11 + 12;
    // nobody here calls fold: the job does, within a few of its 300 ms intervals
    const want = [
      { bucketSeconds: 60, windows: 3, inferences },
      { bucketSeconds: 3_600, windows: 3, inferences },
    ];
    // (a fold may come between two of the windows: wait for all three)
    await waitFor(async () => JSON.stringify(await rollupsOf(d.deviceId)) === JSON.stringify(want), 20_000, 'the scheduled fold', {
      intervalMs: 50,
      detail: async () => JSON.stringify(await rollupsOf(d.deviceId)),
    });
    expect(await pendingOf(d.deviceId)).toBe(0);
  }, 60_000);
});
