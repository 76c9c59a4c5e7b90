import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiPaths } from '../health/openapi.js';
import { newSecret, sha256Hex } from '../infra/secrets.js';
import { startHarness, type Harness } from '../test-support/harness.js';
import { buildRouter, type RouterDeps } from '../trpc/router.js';
import { ApiTokenRepository } from './api-token.repository.js';
import type { Role } from './roles.js';
import { TRPC_DEVICE_SUBJECT, TRPC_FLEET_WIDE_READ } from './scope.js';

/**
 * The authorization matrix: every operator route of the REST API and tRPC procedures, called with a
 * token of each role, a scenario-scoped and a label-scoped token, a revoked, an expired, an unknown token, a device
 * credential and none. Exactly the cells the route's role (and scope) allows get past authorization
 * (any answer but 401/403: the bodies here are deliberately incomplete, so nothing is changed);
 * every other cell is 401, or 403 naming the role or the scope.
 */
let h: Harness;
type Kind = Role | 'scoped' | 'labelled' | 'revoked' | 'expired';
const tokens = {} as Record<Kind, string>;
/** The scoped token's one scenario; the routes below name another (data_analysis_agent) in their path. */
const SCOPE = 'robotic_manipulation';
/** The label-scoped token's one label; ID below is no device at all, so never in any scope. */
const LABELS = { site: 'berlin' };

beforeAll(async () => {
  h = await startHarness();
  const repo = h.cp.app.get(ApiTokenRepository);
  const add = async (kind: Kind, role: Role, more: { scenarios?: string[]; labels?: Record<string, string>; expiresAt?: Date } = {}) => {
    tokens[kind] = `eft_op_${newSecret()}`;
    return repo.create({ name: `test ${kind}`, tokenHash: sha256Hex(tokens[kind]), role, ...more });
  };
  for (const role of ROLES) await add(role, role);
  await add('scoped', 'operator', { scenarios: [SCOPE] });
  await add('labelled', 'operator', { labels: LABELS });
  await add('expired', 'admin', { expiresAt: new Date(Date.now() - 1_000) });
  await repo.revoke(await add('revoked', 'admin'));
}, 60_000);

afterAll(async () => {
  await h.close();
});

const ID = randomUUID();
const SHA = 'a'.repeat(64);

/** Every route the OpenAPI document lists, with the least role it needs (`device` routes take a device's credentials, not an operator's). */
const MATRIX: { method: string; path: string; needs: Role | 'device' | 'public'; body?: string; device?: true; fleetWide?: true }[] = [
  { method: 'GET', path: '/api/v1/policies', needs: 'viewer' },
  { method: 'GET', path: '/api/v1/policies/export.yaml', needs: 'viewer' },
  { method: 'POST', path: '/api/v1/policies/import', needs: 'operator', body: '{}' },
  { method: 'PUT', path: '/api/v1/policies/{scenario}', needs: 'operator', body: '{}' },
  { method: 'POST', path: '/api/v1/models', needs: 'operator', body: '{}' },
  { method: 'GET', path: '/api/v1/models', needs: 'viewer' },
  { method: 'GET', path: '/api/v1/models/{id}', needs: 'viewer' },
  { method: 'PUT', path: '/api/v1/scenarios/{scenario}/model', needs: 'operator', body: '{}' },
  { method: 'POST', path: '/api/v1/assignments/preview', needs: 'viewer', body: '{}' },
  { method: 'GET', path: '/api/v1/artifacts/{sha256}', needs: 'viewer' },
  { method: 'POST', path: '/api/v1/rollouts', needs: 'operator', body: '{}' },
  { method: 'GET', path: '/api/v1/rollouts', needs: 'viewer' },
  { method: 'GET', path: '/api/v1/rollouts/{id}', needs: 'viewer' },
  { method: 'POST', path: '/api/v1/rollouts/{id}/{action}', needs: 'operator', body: '{}' },
  { method: 'POST', path: '/api/v1/enrollment-tokens', needs: 'admin', body: '{}' },
  { method: 'POST', path: '/api/v1/devices/enroll', needs: 'device', body: '{}' },
  { method: 'GET', path: '/api/v1/devices', needs: 'viewer' },
  { method: 'GET', path: '/api/v1/devices/{id}', needs: 'viewer', device: true },
  { method: 'GET', path: '/api/v1/devices/{id}/telemetry', needs: 'viewer', device: true },
  { method: 'POST', path: '/api/v1/devices/{id}/revoke', needs: 'operator', body: '{}', device: true },
  { method: 'POST', path: '/api/v1/devices/{id}/enable', needs: 'operator', body: '{}', device: true },
  { method: 'POST', path: '/api/v1/devices/{id}/rotate-secret', needs: 'admin', body: '{}', device: true },
  { method: 'GET', path: '/api/v1/audit', needs: 'auditor' },
  { method: 'GET', path: '/api/v1/audit/verify', needs: 'auditor', fleetWide: true },
  { method: 'GET', path: '/api/v1/tokens', needs: 'admin' },
  { method: 'POST', path: '/api/v1/tokens', needs: 'admin', body: '{}' },
  { method: 'POST', path: '/api/v1/tokens/{id}/rotate', needs: 'admin', body: '{}' },
  { method: 'POST', path: '/api/v1/tokens/{id}/revoke', needs: 'admin', body: '{}' },
  { method: 'POST', path: '/api/v1/sessions', needs: 'viewer', body: '{}' },
  { method: 'DELETE', path: '/api/v1/sessions/current', needs: 'viewer' },
  { method: 'GET', path: '/api/v1/alerts', needs: 'viewer' },
  { method: 'GET', path: '/api/v1/alerts/{id}', needs: 'viewer' },
  { method: 'GET', path: '/api/v1/alert-rules', needs: 'viewer' },
  { method: 'POST', path: '/api/v1/alert-rules', needs: 'operator', body: '{}' },
  { method: 'PUT', path: '/api/v1/alert-rules/{id}', needs: 'operator', body: '{}' },
  { method: 'DELETE', path: '/api/v1/alert-rules/{id}', needs: 'operator' },
  { method: 'GET', path: '/api/v1/silences', needs: 'viewer' },
  { method: 'POST', path: '/api/v1/silences', needs: 'operator', body: '{}' },
  { method: 'DELETE', path: '/api/v1/silences/{id}', needs: 'operator' },
  { method: 'GET', path: '/api/v1/webhooks', needs: 'viewer' },
  { method: 'POST', path: '/api/v1/webhooks', needs: 'admin', body: '{}' },
  { method: 'DELETE', path: '/api/v1/webhooks/{id}', needs: 'admin' },
  { method: 'GET', path: '/api/v1/webhooks/{id}/deliveries', needs: 'viewer' },
  { method: 'GET', path: '/api/v1/energy', needs: 'viewer' },
  { method: 'GET', path: '/api/v1/energy/devices/{id}', needs: 'viewer', device: true },
  { method: 'GET', path: '/api/v1/remediation/settings', needs: 'viewer' },
  { method: 'PUT', path: '/api/v1/remediation/settings/{scenario}', needs: 'operator', body: '{}' },
  { method: 'GET', path: '/api/v1/remediation/actions', needs: 'viewer' },
  { method: 'GET', path: '/api/v1/remediation/actions/{id}', needs: 'viewer' },
  { method: 'POST', path: '/api/v1/remediation/actions/{id}/approve', needs: 'operator', body: '{}' },
  { method: 'POST', path: '/api/v1/remediation/actions/{id}/reject', needs: 'operator', body: '{}' },
  { method: 'GET', path: '/api/v1/remediation/devices/{id}', needs: 'viewer', device: true },
  { method: 'GET', path: '/api/v1/signing-key', needs: 'viewer' },
  { method: 'POST', path: '/api/v1/signing-key/rotate', needs: 'admin', body: '{}' },
  { method: 'GET', path: '/api/v1/telemetry/rollups/parked', needs: 'viewer', fleetWide: true },
  { method: 'POST', path: '/api/v1/telemetry/rollups/parked/requeue', needs: 'admin', body: '{}' },
  { method: 'GET', path: '/healthz', needs: 'public' },
  { method: 'GET', path: '/readyz', needs: 'public' },
  { method: 'GET', path: '/metrics', needs: 'public' },
  { method: 'GET', path: '/api/v1/openapi.json', needs: 'public' },
];

const ROLES = ['viewer', 'auditor', 'operator', 'admin'] as const;

/** Who passes a route that needs a role: written out here, not taken from roles.ts, so a change there shows. */
const PASSES: Record<Role, readonly Role[]> = {
  viewer: ['viewer', 'auditor', 'operator', 'admin'],
  auditor: ['auditor', 'admin'],
  operator: ['operator', 'admin'],
  admin: ['admin'],
};

function concrete(path: string): string {
  return path.replace('{scenario}', 'data_analysis_agent').replace('{sha256}', SHA).replace('{action}', 'pause').replace('{id}', ID);
}

async function call(method: string, path: string, token: string | null, body?: string, authorization?: string): Promise<Response> {
  const auth = authorization ?? (token ? `Bearer ${token}` : undefined);
  return fetch(`${h.cp.url}${concrete(path)}`, {
    method,
    headers: { ...(auth ? { authorization: auth } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
    body,
  });
}

/** A device's credential (Basic id:secret) is never an operator's. */
const DEVICE_BASIC = `Basic ${Buffer.from(`${randomUUID()}:${newSecret()}`).toString('base64')}`;

async function expectForbidden(res: Response, who: string, text: string): Promise<void> {
  expect(res.status, `${who} got past`).toBe(403);
  const body = (await res.json()) as { error: { code: string; message: string } };
  expect(body.error).toEqual({ code: 'forbidden', message: expect.stringContaining(text) as string });
}

describe('authorization matrix', () => {
  it('covers every route the API documents', () => {
    const documented = Object.entries(apiPaths).flatMap(([path, item]) =>
      ['get', 'put', 'post', 'delete', 'patch']
        .filter((m) => (item as Record<string, unknown>)[m] !== undefined)
        .map((m) => `${m.toUpperCase()} ${path}`),
    );
    expect(MATRIX.map((r) => `${r.method} ${r.path}`).sort()).toEqual(documented.sort());
  });

  for (const route of MATRIX.filter((r) => r.needs !== 'device' && r.needs !== 'public')) {
    const needs = route.needs as Role;
    const changes = needs === 'operator' || needs === 'admin';
    const scopedRefused = route.device
      ? ' and scoped tokens (the device is in no scope)'
      : changes || route.fleetWide
        ? ' and scoped tokens'
        : '';
    it(`${route.method} ${route.path}: ${PASSES[needs].join(', ')} pass; other roles${scopedRefused} get 403; revoked, expired, unknown, device and missing credentials 401`, async () => {
      for (const role of ROLES) {
        const res = await call(route.method, route.path, tokens[role], route.body);
        if (PASSES[needs].includes(role)) expect([401, 403], `${role} was refused`).not.toContain(res.status);
        else await expectForbidden(res, role, `needs the ${needs} role`);
      }
      // operator tokens scoped to SCOPE or to LABELS: reads pass (those over the fleet filtered to the scope:
      // token-scope.int.spec.ts), but not of a device outside the scope nor what cannot be filtered;
      // a change of another scenario, of no scenario, or of any scenario for a label scope, does not
      for (const [kind, scope] of [
        ['scoped', SCOPE],
        ['labelled', 'labels site=berlin'],
      ] as const) {
        const scoped = await call(route.method, route.path, tokens[kind], route.body);
        if (needs === 'admin' || needs === 'auditor') await expectForbidden(scoped, kind, `needs the ${needs} role`);
        else if (route.device) await expectForbidden(scoped, kind, `scoped to ${scope}; device ${ID} is not in its scope`);
        else if (route.fleetWide) await expectForbidden(scoped, kind, `scoped to ${scope}: this read covers the whole fleet`);
        else if (needs === 'operator') await expectForbidden(scoped, kind, `scoped to ${scope}`);
        else expect([401, 403], `${kind} operator was refused a read`).not.toContain(scoped.status);
      }
      for (const token of [tokens.revoked, tokens.expired, `eft_op_${newSecret()}`, `eft_ses_${newSecret()}`, null])
        expect((await call(route.method, route.path, token, route.body)).status).toBe(401);
      expect((await call(route.method, route.path, null, route.body, DEVICE_BASIC)).status).toBe(401);
    });
  }

  it('a scoped token passes the routes whose subject scenario is in its scope', async () => {
    // past authorization, refused by validation: nothing changed
    for (const [method, path] of [
      ['PUT', `/api/v1/policies/${SCOPE}`],
      ['PUT', `/api/v1/scenarios/${SCOPE}/model`],
      ['PUT', `/api/v1/remediation/settings/${SCOPE}`],
    ] as const)
      expect((await call(method, path, tokens.scoped, '{}')).status, `${method} ${path}`).toBe(400);
    const rollout = (scenario: string) => call('POST', '/api/v1/rollouts', tokens.scoped, JSON.stringify({ target: { scenario } }));
    expect((await rollout(SCOPE)).status).toBe(400);
    await expectForbidden(await rollout('data_analysis_agent'), 'scoped rollout', 'this request is for data_analysis_agent');
  });

  it('a device route and the probes take no operator token', async () => {
    expect((await call('POST', '/api/v1/devices/enroll', null, '{}')).status).toBe(400);
    for (const path of ['/healthz', '/readyz', '/api/v1/openapi.json']) expect((await call('GET', path, null)).status).toBe(200);
  });

  it("tRPC: every role reads, a viewer or auditor cannot change, an operator can; the audit is the auditor's and admin's, tokens the admin's", async () => {
    const query = `/trpc/policies.list`;
    for (const role of ROLES) expect((await call('GET', query, tokens[role])).status).toBe(200);
    const mutation = (token: string, path = 'policies.update', input: unknown = { scenario: 'data_analysis_agent' }) =>
      fetch(`${h.cp.url}/trpc/${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(input),
      });
    for (const role of ['viewer', 'auditor'] as const) {
      const refused = await mutation(tokens[role]);
      expect(refused.status).toBe(403);
      expect(JSON.stringify(await refused.json())).toContain('needs the operator role');
    }
    // past authorization, refused by input validation instead: nothing changed either way
    expect((await mutation(tokens.operator)).status).toBe(400);
    expect((await mutation(tokens.scoped, 'policies.update', { scenario: SCOPE })).status).toBe(400);
    const outOfScope = await mutation(tokens.scoped);
    expect(outOfScope.status).toBe(403);
    expect(JSON.stringify(await outOfScope.json())).toContain(`scoped to ${SCOPE}`);
    // a mutation with no scenario subject is refused to a scoped token
    expect((await mutation(tokens.scoped, 'devices.revoke', { id: ID })).status).toBe(403);
    for (const role of ROLES) {
      const audit = (await call('GET', '/trpc/audit.verify', tokens[role])).status;
      expect(audit, `${role} audit.verify`).toBe(PASSES.auditor.includes(role) ? 200 : 403);
      const list = (await call('GET', '/trpc/tokens.list', tokens[role])).status;
      expect(list, `${role} tokens.list`).toBe(role === 'admin' ? 200 : 403);
    }
    expect((await mutation(tokens.operator, 'tokens.revoke', { id: ID })).status).toBe(403);
    expect((await mutation(tokens.admin, 'tokens.revoke', { id: ID })).status).toBe(404);
    for (const token of [tokens.revoked, tokens.expired]) expect((await call('GET', query, token)).status).toBe(401);
  });

  /** The tRPC procedures that need more than their kind's default (a query: viewer, a mutation: operator). */
  const TRPC_NEEDS: Record<string, Role> = {
    'audit.list': 'auditor',
    'audit.verify': 'auditor',
    'tokens.list': 'admin',
    'tokens.create': 'admin',
    'tokens.rotate': 'admin',
    'tokens.revoke': 'admin',
    'devices.rotateSecret': 'admin',
    'telemetry.requeueParked': 'admin',
  };

  it('tRPC: every procedure × every role, a scoped token, and revoked, expired, unknown and missing credentials', async () => {
    // the router's shape only: no procedure runs here, so it needs none of its services
    const table: object = buildRouter({} as RouterDeps)._def.procedures;
    const procedures = Object.entries(table).map(([path, p]) => [path, p as { _def: { type: string } }] as const);
    expect(procedures.length).toBeGreaterThan(30);
    // the scope tables name procedures that exist: a renamed one would lose its check silently
    const paths = procedures.map(([path]) => path);
    for (const path of [...TRPC_FLEET_WIDE_READ, ...Object.keys(TRPC_DEVICE_SUBJECT)]) expect(paths).toContain(path);
    const callTrpc = (path: string, type: string, token: string | null) =>
      fetch(`${h.cp.url}/trpc/${path}`, {
        method: type === 'mutation' ? 'POST' : 'GET',
        headers: {
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(type === 'mutation' ? { 'content-type': 'application/json' } : {}),
        },
        // an empty input: refused by validation (400) once past authorization, so nothing changes
        body: type === 'mutation' ? '{}' : undefined,
      });
    const wrong: string[] = [];
    for (const [path, proc] of procedures) {
      const type = proc._def.type;
      const needs = TRPC_NEEDS[path] ?? (type === 'mutation' ? 'operator' : 'viewer');
      // a scoped operator reads as an operator, but no device (no input names one in its scope); no mutation here names a scenario of its scope
      // nor a read over the whole fleet that cannot be filtered (TRPC_FLEET_WIDE_READ); the others are cut to the scope
      const scopedPasses =
        type !== 'mutation' &&
        PASSES[needs].includes('operator') &&
        TRPC_DEVICE_SUBJECT[path] === undefined &&
        !TRPC_FLEET_WIDE_READ.has(path);
      const cells: [string, string | null, boolean | 401][] = [
        ...ROLES.map((role): [string, string, boolean] => [role, tokens[role], PASSES[needs].includes(role)]),
        ['scoped', tokens.scoped, scopedPasses],
        ['labelled', tokens.labelled, scopedPasses],
        ['revoked', tokens.revoked, 401],
        ['expired', tokens.expired, 401],
        ['unknown', `eft_op_${newSecret()}`, 401],
        ['missing', null, 401],
      ];
      for (const [who, token, expected] of cells) {
        const status = (await callTrpc(path, type, token)).status;
        const ok = expected === 401 ? status === 401 : expected ? status !== 401 && status !== 403 : status === 403;
        if (!ok) wrong.push(`${path} (${type}, needs ${needs}) as ${who}: ${status}`);
      }
    }
    expect(wrong).toEqual([]);
  });
});
