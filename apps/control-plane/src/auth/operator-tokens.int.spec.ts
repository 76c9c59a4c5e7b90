import { ApiTokenListSchema, ApiTokenSecretSchema, AuditPageSchema, OperatorSessionSchema } from '@edge-fleet/shared/api';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../infra/secrets.js';
import { jsonPost, startHarness, waitFor, type Harness } from '../test-support/harness.js';
import { MaintenanceProcessor } from '../worker/maintenance.processor.js';

/**
 * Issue 12 (M16): operator API tokens through their lifecycle (create, use, rotate, revoke, expire)
 * and the dashboard's server-side sessions (sign-in, sign-out, a replayed session), each change
 * and each refusal in the audit.
 */
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

const bearer = (credential: string, init: RequestInit = {}): RequestInit => ({
  ...init,
  headers: { authorization: `Bearer ${credential}`, ...(init.headers ?? {}) },
});

const asUser = (credential: string, path: string, init: RequestInit = {}) => fetch(`${h.cp.url}${path}`, bearer(credential, init));

async function createToken(body: unknown) {
  const res = await jsonPost(h, '/api/v1/tokens', body);
  expect(res.status, await res.clone().text()).toBe(201);
  return ApiTokenSecretSchema.parse(await res.json());
}

async function audit(query: string) {
  const res = await h.api(`/api/v1/audit?${query}`);
  expect(res.status).toBe(200);
  return AuditPageSchema.parse(await res.json()).items;
}

async function tokenCount(): Promise<number> {
  return Number((await db.query<{ n: string }>('SELECT count(*)::text AS n FROM "ApiToken"')).rows[0]?.n);
}

describe('operator API tokens', () => {
  it('an admin creates a token: its secret is shown once, listed only by prefix, and it works at once', async () => {
    const created = await createToken({ name: 'ci pipeline', role: 'operator', scenarios: ['robotic_manipulation'] });
    expect(created.secret).toMatch(/^eft_op_[A-Za-z0-9_-]{43}$/);
    expect(created.token).toMatchObject({ name: 'ci pipeline', role: 'operator', scenarios: ['robotic_manipulation'], status: 'active' });
    expect(created.secret.startsWith(created.token.prefix)).toBe(true);
    expect(created.token.prefix.length).toBeLessThan(16);

    expect((await asUser(created.secret, '/api/v1/devices')).status).toBe(200);
    const listText = await (await h.api('/api/v1/tokens')).text();
    expect(listText).not.toContain(created.secret);
    const listed = ApiTokenListSchema.parse(JSON.parse(listText)).items.find((t) => t.id === created.token.id);
    expect(listed?.lastUsedAt).not.toBeNull();
    // only the hash is stored
    const stored = await db.query<{ tokenHash: string }>('SELECT "tokenHash" FROM "ApiToken" WHERE id = $1', [created.token.id]);
    expect(stored.rows[0]?.tokenHash).toMatch(/^[0-9a-f]{64}$/);
    expect(stored.rows[0]?.tokenHash).not.toContain(created.secret);

    const [event] = await audit(`action=api_token.create&targetId=${created.token.id}`);
    expect(event?.actor).toMatch(/^operator:/);
    expect(event?.details).toMatchObject({ role: 'operator', scenarios: ['robotic_manipulation'] });
  });

  it('rotate: the new secret works, the old one is refused at once; audited', async () => {
    const { token, secret: old } = await createToken({ name: 'rotating', role: 'viewer' });
    const res = await h.api(`/api/v1/tokens/${token.id}/rotate`, { method: 'POST' });
    expect(res.status).toBe(200);
    const rotated = ApiTokenSecretSchema.parse(await res.json());
    expect(rotated.secret).not.toBe(old);
    expect(rotated.token.rotatedAt).not.toBeNull();
    expect((await asUser(old, '/api/v1/devices')).status).toBe(401);
    expect((await asUser(rotated.secret, '/api/v1/devices')).status).toBe(200);
    expect(await audit(`action=api_token.rotate&targetId=${token.id}`)).toHaveLength(1);
  });

  it('revoke: the token is refused from its next request, cannot be rotated back, and revoking again changes nothing', async () => {
    const { token, secret } = await createToken({ name: 'leaving', role: 'admin' });
    expect((await asUser(secret, '/api/v1/tokens')).status).toBe(200);
    const res = await h.api(`/api/v1/tokens/${token.id}/revoke`, { method: 'POST' });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { status: string }).status).toBe('revoked');
    expect((await asUser(secret, '/api/v1/tokens')).status).toBe(401);
    expect((await h.api(`/api/v1/tokens/${token.id}/rotate`, { method: 'POST' })).status).toBe(409);
    expect((await h.api(`/api/v1/tokens/${token.id}/revoke`, { method: 'POST' })).status).toBe(200);
    expect(await audit(`action=api_token.revoke&targetId=${token.id}`)).toHaveLength(1);
  });

  it('expired: a token past its expiry is refused and listed as expired', async () => {
    const soon = new Date(Date.now() + 5_000).toISOString();
    const { token, secret } = await createToken({ name: 'short-lived', role: 'viewer', expiresAt: soon });
    expect(token.expiresAt).toBe(soon);
    expect((await asUser(secret, '/api/v1/devices')).status).toBe(200);
    await waitFor(async () => (await asUser(secret, '/api/v1/devices')).status === 401, 20_000, 'the token to expire');
    const listed = ApiTokenListSchema.parse(await (await h.api('/api/v1/tokens')).json()).items.find((t) => t.id === token.id);
    expect(listed?.status).toBe('expired');
  });

  it('bad input: 400 naming the field, and nothing stored or audited', async () => {
    const before = await tokenCount();
    const auditBefore = (await audit('action=api_token.create&limit=500')).length;
    for (const [body, field] of [
      [{ role: 'viewer' }, 'name'],
      [{ name: 'x', role: 'root' }, 'role'],
      [{ name: 'x', role: 'viewer', scenarios: ['mars'] }, 'scenarios.0'],
      [{ name: 'x', role: 'viewer', expiresAt: 'tomorrow' }, 'expiresAt'],
      [{ name: 'x', role: 'viewer', expiresAt: new Date(Date.now() - 60_000).toISOString() }, 'expiresAt: must be in the future'],
      [{ name: 'x', role: 'viewer', secret: 'mine' }, 'secret'],
    ] as const) {
      const res = await jsonPost(h, '/api/v1/tokens', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(((await res.json()) as { error: { message: string } }).error.message).toContain(field);
    }
    expect((await h.api('/api/v1/tokens/not-a-uuid/rotate', { method: 'POST' })).status).toBe(400);
    expect(await tokenCount()).toBe(before);
    expect((await audit('action=api_token.create&limit=500')).length).toBe(auditBefore);
  });

  it('a refusal for role or scope is audited with who asked for what (auth.denied)', async () => {
    const viewer = await createToken({ name: 'curious viewer', role: 'viewer' });
    expect((await asUser(viewer.secret, '/api/v1/tokens')).status).toBe(403);
    const scoped = await createToken({ name: 'scoped', role: 'operator', scenarios: ['robotic_manipulation'] });
    const res = await asUser(scoped.secret, '/api/v1/policies/data_analysis_agent', {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(res.status).toBe(403);
    const denied = await audit('action=auth.denied');
    expect(denied.find((e) => e.actor === `operator:${viewer.token.id}`)).toMatchObject({ targetId: 'GET /api/v1/tokens' });
    expect(denied.find((e) => e.actor === `operator:${scoped.token.id}`)?.details).toMatchObject({
      reason: expect.stringContaining('scoped to robotic_manipulation') as string,
    });
  });

  it('tRPC: an admin creates, rotates and revokes a token; a scoped admin token may not make one', async () => {
    const mutate = (credential: string, path: string, input: unknown) =>
      asUser(credential, `/trpc/${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(input) });
    const res = await mutate(h.cp.operatorToken, 'tokens.create', { name: 'from trpc', role: 'auditor' });
    expect(res.status).toBe(200);
    const created = ApiTokenSecretSchema.parse(((await res.json()) as { result: { data: unknown } }).result.data);
    expect((await asUser(created.secret, '/api/v1/audit/verify')).status).toBe(200);
    const rotated = ApiTokenSecretSchema.parse(
      ((await (await mutate(h.cp.operatorToken, 'tokens.rotate', { id: created.token.id })).json()) as { result: { data: unknown } }).result
        .data,
    );
    expect((await asUser(created.secret, '/api/v1/audit/verify')).status).toBe(401);
    expect((await mutate(h.cp.operatorToken, 'tokens.revoke', { id: created.token.id })).status).toBe(200);
    expect((await asUser(rotated.secret, '/api/v1/audit/verify')).status).toBe(401);
    const scopedAdmin = await createToken({ name: 'scoped admin', role: 'admin', scenarios: ['robotic_manipulation'] });
    expect((await mutate(scopedAdmin.secret, 'tokens.create', { name: 'escalate', role: 'admin' })).status).toBe(403);
    expect((await mutate(h.cp.operatorToken, 'tokens.create', { name: 'x', role: 'root' })).status).toBe(400);
  });
});

describe('dashboard sessions', () => {
  async function signIn(token: string): Promise<string> {
    const res = await asUser(token, '/api/v1/sessions', { method: 'POST' });
    expect(res.status).toBe(201);
    const s = OperatorSessionSchema.parse(await res.json());
    expect(s.session).toMatch(/^eft_ses_/);
    return s.session;
  }

  it('sign-in exchanges the token for a session stored hashed; sign-out ends it, and a replayed session is refused', async () => {
    const session = await signIn(h.cp.operatorToken);
    expect((await asUser(session, '/trpc/fleet.overview')).status).toBe(200);
    expect((await asUser(session, '/api/v1/devices')).status).toBe(200);
    const stored = await db.query('SELECT 1 FROM "OperatorSession" WHERE "sessionHash" = $1', [session]);
    expect(stored.rowCount).toBe(0);

    expect((await asUser(session, '/api/v1/sessions/current', { method: 'DELETE' })).status).toBe(204);
    // the same cookie value replayed after sign-out
    expect((await asUser(session, '/trpc/fleet.overview')).status).toBe(401);
    expect((await asUser(session, '/api/v1/devices')).status).toBe(401);
    expect((await asUser(session, '/api/v1/sessions/current', { method: 'DELETE' })).status).toBe(401);
    // the token itself still works
    expect((await h.api('/api/v1/devices')).status).toBe(200);
    expect(await audit('action=session.create')).not.toHaveLength(0);
    expect(await audit('action=session.revoke')).toHaveLength(1);
  });

  it('revoking or rotating the token ends the sessions signed in with it', async () => {
    const a = await createToken({ name: 'revoked with sessions', role: 'viewer' });
    const sa = await signIn(a.secret);
    await h.api(`/api/v1/tokens/${a.token.id}/revoke`, { method: 'POST' });
    expect((await asUser(sa, '/trpc/fleet.overview')).status).toBe(401);

    const b = await createToken({ name: 'rotated with sessions', role: 'viewer' });
    const sb = await signIn(b.secret);
    expect((await asUser(sb, '/trpc/fleet.overview')).status).toBe(200);
    await h.api(`/api/v1/tokens/${b.token.id}/rotate`, { method: 'POST' });
    expect((await asUser(sb, '/trpc/fleet.overview')).status).toBe(401);
  });

  it('an expired session is refused, even just after the replica verified it; a session cannot open another; a token cannot be signed out as a session', async () => {
    const session = await signIn(h.cp.operatorToken);
    // it ends within the replica's OPERATOR_AUTH_CACHE_MS of its first use: the expiry, not the bound, ends it
    const endsAt = Date.now() + 1_000;
    expect(h.config.OPERATOR_AUTH_CACHE_MS).toBeGreaterThan(1_500);
    await db.query(`UPDATE "OperatorSession" SET "expiresAt" = $2 WHERE "sessionHash" = $1`, [sha256Hex(session), new Date(endsAt)]);
    expect((await asUser(session, '/api/v1/sessions', { method: 'POST' })).status).toBe(403);
    expect((await h.api('/api/v1/sessions/current', { method: 'DELETE' })).status).toBe(400);
    expect((await asUser(session, '/trpc/fleet.overview')).status).toBe(200);
    await new Promise((r) => setTimeout(r, endsAt + 50 - Date.now()));
    expect((await asUser(session, '/trpc/fleet.overview')).status).toBe(401);
  });

  it('a session trying to open a session is refused (403) and audited as a denial', async () => {
    const session = await signIn(h.cp.operatorToken);
    const denials = async () => (await audit('action=auth.denied&limit=500')).filter((e) => e.targetId === 'POST /api/v1/sessions');
    const before = (await denials()).length;
    const res = await asUser(session, '/api/v1/sessions', { method: 'POST' });
    expect(res.status).toBe(403);
    const after = await denials();
    expect(after.length).toBe(before + 1);
    expect(after[0]?.details).toMatchObject({ reason: 'a session cannot open another session: sign in with the operator token' });
  });

  it('the maintenance purge deletes ended sessions (expired, signed out, of a revoked token), keeps live ones, and is audited', async () => {
    const t = await createToken({ name: 'purge', role: 'viewer' });
    const [live, expired, signedOut] = [await signIn(t.secret), await signIn(t.secret), await signIn(t.secret)];
    const gone = await createToken({ name: 'purge revoked', role: 'viewer' });
    await signIn(gone.secret);
    await h.api(`/api/v1/tokens/${gone.token.id}/revoke`, { method: 'POST' });
    expect((await asUser(signedOut, '/api/v1/sessions/current', { method: 'DELETE' })).status).toBe(204);
    await db.query(`UPDATE "OperatorSession" SET "expiresAt" = now() - interval '1 second' WHERE "sessionHash" = $1`, [sha256Hex(expired)]);
    const rows = async () =>
      (
        await db.query<{ tokenId: string }>(`SELECT "tokenId" FROM "OperatorSession" WHERE "tokenId" = ANY($1::uuid[])`, [
          [t.token.id, gone.token.id],
        ])
      ).rowCount;
    expect(await rows()).toBe(4);
    const purges = async () => (await audit('action=session.purge&limit=500')).length;
    const before = await purges();
    await h.cp.app.get(MaintenanceProcessor).handlers['purge-sessions']({});
    expect(await rows()).toBe(1);
    expect((await asUser(live, '/trpc/fleet.overview')).status).toBe(200);
    expect(await purges()).toBe(before + 1);
    // nothing left to delete: no audit event for an empty pass
    await h.cp.app.get(MaintenanceProcessor).handlers['purge-sessions']({});
    expect(await purges()).toBe(before + 1);
  });

  it('a failed sign-in is audited once (by the abuse limits), naming the address', async () => {
    const before = (await audit('action=auth.operator_failed&limit=500')).length;
    expect((await asUser('eft_op_wrongwrongwrongwrong', '/api/v1/sessions', { method: 'POST' })).status).toBe(401);
    await waitFor(
      async () => (await audit('action=auth.operator_failed&limit=500')).length === before + 1,
      10_000,
      'the failure in the audit',
    );
  });
});
