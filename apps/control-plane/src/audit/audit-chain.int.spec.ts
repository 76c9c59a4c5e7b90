import { AuditPageSchema, AuditVerificationSchema } from '@edge-fleet/shared/api';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jsonPost, startHarness, type Harness } from '../test-support/harness.js';

/** Issue 12: the audit log is hash-chained, readable by an auditor or admin, filtered by time, and a change made around the application is found. */
let h: Harness;
let db: pg.Client;

beforeAll(async () => {
  h = await startHarness();
  db = new pg.Client({ connectionString: h.dbUrl });
  await db.connect();
}, 60_000);

afterAll(async () => {
  await db.end();
  await h.close();
});

async function verify() {
  const res = await h.api('/api/v1/audit/verify');
  expect(res.status).toBe(200);
  return AuditVerificationSchema.parse(await res.json());
}

/** Some audited changes, made concurrently (the chain must stay linear): enrollment tokens. */
async function audited(n: number): Promise<void> {
  const answers = await Promise.all(
    Array.from({ length: n }, () => jsonPost(h, '/api/v1/enrollment-tokens', { scenario: 'robotic_manipulation', maxUses: 2 })),
  );
  expect(answers.map((a) => a.status)).toEqual(Array.from({ length: n }, () => 201));
}

describe('tamper-evident audit', () => {
  it('chains every event, also under concurrent writers, and lists them newest first with filters', async () => {
    await audited(8);
    const v = await verify();
    expect(v).toMatchObject({ ok: true, firstBroken: null, beforeChain: 0 });
    expect(v.checked).toBeGreaterThanOrEqual(9);
    const page = AuditPageSchema.parse(await (await h.api('/api/v1/audit?action=enrollment_token.create&limit=5')).json());
    expect(page.items).toHaveLength(5);
    expect(page.items.every((e) => e.action === 'enrollment_token.create' && e.hash !== null)).toBe(true);
    const ids = page.items.map((e) => BigInt(e.id));
    expect([...ids].sort((a, b) => (a > b ? -1 : 1))).toEqual(ids);
    expect(page.nextBefore).not.toBeNull();
    const next = AuditPageSchema.parse(
      await (await h.api(`/api/v1/audit?action=enrollment_token.create&limit=5&before=${page.nextBefore}`)).json(),
    );
    expect(next.items.every((e) => BigInt(e.id) < (ids.at(-1) ?? 0n))).toBe(true);
    expect((await h.api('/api/v1/audit?limit=0')).status).toBe(400);
  });

  it('filters by time range: from (inclusive) and to (exclusive); a bad time is a 400 naming the field', async () => {
    const page = async (q: string) => AuditPageSchema.parse(await (await h.api(`/api/v1/audit?${q}`)).json()).items;
    const [newest] = await page('limit=1');
    expect(newest).toBeDefined();
    const at = encodeURIComponent(newest?.at ?? '');
    expect((await page(`from=${at}&limit=1`))[0]?.id).toBe(newest?.id);
    expect((await page(`to=${at}&limit=500`)).every((e) => e.at < (newest?.at ?? '') && e.id !== newest?.id)).toBe(true);
    expect(await page(`from=${encodeURIComponent(new Date(Date.now() + 3_600_000).toISOString())}`)).toHaveLength(0);
    const bad = await h.api('/api/v1/audit?from=yesterday');
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain('from');
  });

  it('names the first changed event after an UPDATE by SQL', async () => {
    await audited(2);
    const { rows } = await db.query<{ id: string }>(
      `SELECT id::text AS id FROM "AuditEvent" WHERE action = 'enrollment_token.create' ORDER BY id LIMIT 1 OFFSET 2`,
    );
    const target = rows[0]?.id;
    const saved = await db.query<{ details: unknown }>(`SELECT details FROM "AuditEvent" WHERE id = $1`, [target]);
    await db.query(`UPDATE "AuditEvent" SET details = '{"maxUses":1}' WHERE id = $1`, [target]);
    const v = await verify();
    expect(v.ok).toBe(false);
    expect(v.firstBroken).toEqual({ id: target, reason: expect.stringContaining('the event was changed') as string });
    // put it back: the chain verifies again
    await db.query(`UPDATE "AuditEvent" SET details = $2 WHERE id = $1`, [target, JSON.stringify(saved.rows[0]?.details)]);
    expect((await verify()).ok).toBe(true);
  });

  it('names the event after a DELETE by SQL', async () => {
    await audited(2);
    const { rows } = await db.query<{ id: string }>(`SELECT id::text AS id FROM "AuditEvent" ORDER BY id LIMIT 2 OFFSET 3`);
    await db.query(`DELETE FROM "AuditEvent" WHERE id = $1`, [rows[0]?.id]);
    const v = await verify();
    expect(v.ok).toBe(false);
    expect(v.firstBroken?.id).toBe(rows[1]?.id);
    expect(v.firstBroken?.reason).toContain('deleted, inserted or changed');
  });
});
