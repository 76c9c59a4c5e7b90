import { randomUUID } from 'node:crypto';
import { hardwarePreset } from '@edge-fleet/shared';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newSecret, sha256Hex } from '../infra/secrets.js';
import { jsonPost, startHarness, uploadMlp, type Harness } from '../test-support/harness.js';
import { ApiTokenRepository } from './api-token.repository.js';

/**
 * Issue 12, "optional scenario/label scope": a token limited to device labels (and/or scenarios)
 * lists, reads and acts on only the devices in its scope, sees only the rollouts confined to it,
 * and changes nothing scenario-wide. Real control plane, Postgres and embedded broker.
 */
let h: Harness;
let db: pg.Client;
const device = { berlinArm: randomUUID(), parisArm: randomUUID(), berlinData: randomUUID() };
const token = { berlin: '', arm: '', berlinArm: '' };

async function insertDevice(id: string, name: string, scenario: string, labels: Record<string, string>): Promise<void> {
  const spec = hardwarePreset('cloud-cpu-node');
  await db.query(
    'INSERT INTO "HardwareProfile" (id, "hardwareClass", accelerator, spec) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING',
    ['scope-test', spec.hardwareClass, spec.accelerator, JSON.stringify(spec)],
  );
  await db.query(
    `INSERT INTO "Device" (id, name, scenario, status, labels, "hardwareProfileId", "secretHash") VALUES ($1, $2, $3, 'offline', $4, 'scope-test', 'scrypt$x')`,
    [id, name, scenario, JSON.stringify(labels)],
  );
}

beforeAll(async () => {
  h = await startHarness();
  db = new pg.Client({ connectionString: h.dbUrl });
  await db.connect();
  await insertDevice(device.berlinArm, 'berlin-arm', 'robotic_manipulation', { site: 'berlin', rack: '7' });
  await insertDevice(device.parisArm, 'paris-arm', 'robotic_manipulation', { site: 'paris' });
  await insertDevice(device.berlinData, 'berlin-data', 'data_analysis_agent', { site: 'berlin' });
  const repo = h.cp.app.get(ApiTokenRepository);
  const add = async (kind: keyof typeof token, scope: { scenarios?: string[]; labels?: Record<string, string> }) => {
    token[kind] = `eft_op_${newSecret()}`;
    await repo.create({ name: `scope ${kind}`, tokenHash: sha256Hex(token[kind]), role: 'operator', ...scope });
  };
  await add('berlin', { labels: { site: 'berlin' } });
  await add('arm', { scenarios: ['robotic_manipulation'] });
  await add('berlinArm', { scenarios: ['robotic_manipulation'], labels: { site: 'berlin' } });
}, 90_000);

afterAll(async () => {
  await db.end();
  await h.close();
});

const as = (t: string, path: string, init: RequestInit = {}) =>
  fetch(`${h.cp.url}${path}`, { ...init, headers: { authorization: `Bearer ${t}`, ...(init.headers ?? {}) } });
const post = (t: string, path: string, body: unknown = {}) =>
  as(t, path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
const trpcQuery = (t: string, path: string, input: unknown) => as(t, `/trpc/${path}?input=${encodeURIComponent(JSON.stringify(input))}`);

async function names(res: Response): Promise<string[]> {
  expect(res.status, await res.clone().text()).toBe(200);
  const body = (await res.json()) as { items?: { name: string }[]; result?: { data: { items: { name: string }[] } } };
  return (body.items ?? body.result?.data.items ?? []).map((d) => d.name).sort();
}

describe('issue 12: token label scope', () => {
  it('the device list (REST and tRPC) shows a scoped token only the devices in its scope, with a total to match', async () => {
    expect(await names(await h.api('/api/v1/devices'))).toEqual(['berlin-arm', 'berlin-data', 'paris-arm']);
    expect(await names(await as(token.berlin, '/api/v1/devices'))).toEqual(['berlin-arm', 'berlin-data']);
    expect(await names(await as(token.arm, '/api/v1/devices'))).toEqual(['berlin-arm', 'paris-arm']);
    expect(await names(await as(token.berlinArm, '/api/v1/devices'))).toEqual(['berlin-arm']);
    // the query's own filters narrow further, never widen
    expect(await names(await as(token.berlin, '/api/v1/devices?scenario=robotic_manipulation'))).toEqual(['berlin-arm']);
    const total = (await (await as(token.berlin, '/api/v1/devices')).json()) as { total: number };
    expect(total.total).toBe(2);
    expect(await names(await trpcQuery(token.berlin, 'devices.list', {}))).toEqual(['berlin-arm', 'berlin-data']);
  });

  it('a device outside the scope is refused (403 naming the scope, audited) on REST and tRPC; one inside is read', async () => {
    expect((await as(token.berlin, `/api/v1/devices/${device.berlinArm}`)).status).toBe(200);
    expect((await as(token.berlin, `/api/v1/devices/${device.berlinArm}/telemetry`)).status).toBe(200);
    expect((await trpcQuery(token.berlin, 'devices.get', { id: device.berlinData })).status).toBe(200);
    for (const path of [`/api/v1/devices/${device.parisArm}`, `/api/v1/devices/${device.parisArm}/telemetry`]) {
      const res = await as(token.berlin, path);
      expect(res.status, path).toBe(403);
      expect(((await res.json()) as { error: { message: string } }).error.message).toBe(
        `the token "scope berlin" is scoped to labels site=berlin; device ${device.parisArm} is not in its scope`,
      );
    }
    // an unknown device gets the same answer: a scoped token cannot probe which devices exist
    expect((await as(token.berlin, `/api/v1/devices/${randomUUID()}`)).status).toBe(403);
    expect((await trpcQuery(token.arm, 'devices.get', { id: device.berlinData })).status).toBe(403);
    const audit = await db.query<{ targetId: string }>(
      `SELECT "targetId" FROM "AuditEvent" WHERE action = 'auth.denied' AND "targetId" = $1`,
      [`GET /api/v1/devices/${device.parisArm}`],
    );
    expect(audit.rowCount).toBe(1);
  });

  it('a scoped token revokes a device in its scope, and one outside it is refused and left as it was', async () => {
    const refused = await post(token.berlin, `/api/v1/devices/${device.parisArm}/revoke`);
    expect(refused.status).toBe(403);
    const trpcRefused = await post(token.berlinArm, '/trpc/devices.revoke', { id: device.berlinData });
    expect(trpcRefused.status).toBe(403);
    const status = async (id: string) =>
      (await db.query<{ status: string }>('SELECT status FROM "Device" WHERE id = $1', [id])).rows[0]?.status;
    expect(await status(device.parisArm)).toBe('offline');
    expect(await status(device.berlinData)).toBe('offline');
    const revoked = await post(token.berlin, `/api/v1/devices/${device.berlinArm}/revoke`);
    expect(revoked.status, await revoked.clone().text()).toBe(200);
    expect(await status(device.berlinArm)).toBe('revoked');
    expect((await post(token.berlinArm, '/trpc/devices.enable', { id: device.berlinArm })).status).toBe(200);
    expect(await status(device.berlinArm)).toBe('offline');
  });

  it('a label-scoped token changes nothing scenario-wide, even in its own scenario', async () => {
    for (const t of [token.berlin, token.berlinArm]) {
      const res = await as(t, '/api/v1/policies/robotic_manipulation', {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
      expect(res.status).toBe(403);
      expect(((await res.json()) as { error: { message: string } }).error.message).toContain('it may change only the devices in its scope');
    }
    // the scenario-only token still may (past authorization, refused by validation: nothing changed)
    const arm = await as(token.arm, '/api/v1/policies/robotic_manipulation', {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(arm.status).toBe(400);
  });

  it('rollouts: a scoped token lists and reads only those whose target lies inside its scope', async () => {
    const version = await uploadMlp(h, 'scope-mlp', '1.0.0', 7);
    const rollout = async (name: string, target: unknown) => {
      const res = await db.query<{ id: string }>(
        `INSERT INTO "Rollout" (id, name, "modelVersionId", target, plan, status, "createdBy") VALUES (gen_random_uuid(), $1, $2, $3, '{}', 'paused', 'test') RETURNING id`,
        [name, version.id, JSON.stringify(target)],
      );
      return res.rows[0]?.id ?? '';
    };
    await rollout('all-arms', { scenario: 'robotic_manipulation' });
    const berlinArms = await rollout('berlin-arms', { scenario: 'robotic_manipulation', labels: { site: 'berlin', rack: '7' } });
    const data = await rollout('data', { scenario: 'data_analysis_agent' });
    expect(await names(await h.api('/api/v1/rollouts'))).toEqual(['all-arms', 'berlin-arms', 'data']);
    expect(await names(await as(token.arm, '/api/v1/rollouts'))).toEqual(['all-arms', 'berlin-arms']);
    expect(await names(await as(token.berlin, '/api/v1/rollouts'))).toEqual(['berlin-arms']);
    expect(await names(await trpcQuery(token.berlinArm, 'rollouts.list', undefined))).toEqual(['berlin-arms']);
    expect((await as(token.berlin, `/api/v1/rollouts/${berlinArms}`)).status).toBe(200);
    // outside the scope it is answered as if it did not exist
    expect((await as(token.berlin, `/api/v1/rollouts/${data}`)).status).toBe(404);
    expect((await trpcQuery(token.arm, 'rollouts.get', { id: data })).status).toBe(404);
  }, 120_000);

  it('an admin creates a label-scoped token through the API; bad labels are refused naming the field', async () => {
    const created = await jsonPost(h, '/api/v1/tokens', { name: 'berlin ops', role: 'operator', labels: { site: 'berlin' } });
    expect(created.status, await created.clone().text()).toBe(201);
    const { token: view, secret } = (await created.json()) as { token: { labels: Record<string, string> }; secret: string };
    expect(view.labels).toEqual({ site: 'berlin' });
    expect(await names(await as(secret, '/api/v1/devices'))).toEqual(['berlin-arm', 'berlin-data']);
    const me = (await (await as(secret, '/trpc/session.me')).json()) as { result: { data: { labels: unknown } } };
    expect(me.result.data.labels).toEqual({ site: 'berlin' });
    const tooMany = Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`k${i}`, 'v']));
    for (const labels of [{ site: 3 }, tooMany, { '': 'x' }]) {
      const res = await jsonPost(h, '/api/v1/tokens', { name: 'bad', role: 'operator', labels });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { message: string } }).error.message).toContain('labels');
    }
  });
});
