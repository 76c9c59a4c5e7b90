import { randomUUID } from 'node:crypto';
import { hardwarePreset } from '@edge-fleet/shared';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newSecret, sha256Hex } from '../infra/secrets.js';
import { jsonPost, startHarness, uploadMlp, type Harness } from '../test-support/harness.js';
import { ApiTokenRepository } from './api-token.repository.js';
import type { Role } from './roles.js';

/**
 * Issue 12, "optional scenario/label scope": a token limited to device labels (and/or scenarios)
 * lists, reads and acts on only the devices in its scope, sees only the rollouts confined to it,
 * and changes nothing scenario-wide. Real control plane, Postgres and embedded broker.
 */
let h: Harness;
let db: pg.Client;
const device = { berlinArm: randomUUID(), parisArm: randomUUID(), berlinData: randomUUID() };
const token = { berlin: '', arm: '', berlinArm: '', berlinAuditor: '', armAuditor: '' };

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
  const add = async (
    kind: keyof typeof token,
    scope: { scenarios?: string[]; labels?: Record<string, string> },
    role: Role = 'operator',
  ) => {
    token[kind] = `eft_op_${newSecret()}`;
    await repo.create({ name: `scope ${kind}`, tokenHash: sha256Hex(token[kind]), role, ...scope });
  };
  await add('berlin', { labels: { site: 'berlin' } });
  await add('arm', { scenarios: ['robotic_manipulation'] });
  await add('berlinArm', { scenarios: ['robotic_manipulation'], labels: { site: 'berlin' } });
  await add('berlinAuditor', { labels: { site: 'berlin' } }, 'auditor');
  await add('armAuditor', { scenarios: ['robotic_manipulation'] }, 'auditor');
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

/**
 * Issue 12, reads over the fleet: a scoped token is shown exactly its scope (the fleet overview,
 * alerts, webhook deliveries, the energy report, remediation actions, the audit), filtered in SQL,
 * on REST and tRPC alike; one item outside it answers 404 as if it did not exist.
 */
describe('issue 12: fleet-wide reads cut to the token scope', () => {
  const alert = { berlinArm: '', parisArm: '', berlinData: '', dataRollout: '' };
  const action = { berlinArm: randomUUID(), parisArm: randomUUID() };
  const webhook = randomUUID();

  beforeAll(async () => {
    const version = await uploadMlp(h, 'scope-reads-mlp', '1.0.0', 7);
    const rollout = await db.query<{ id: string }>(
      `INSERT INTO "Rollout" (id, name, "modelVersionId", target, plan, status, "createdBy")
       VALUES (gen_random_uuid(), 'data-reads', $1, '{"scenario":"data_analysis_agent"}', '{}', 'paused', 'test') RETURNING id`,
      [version.id],
    );
    const rule = await db.query<{ id: string }>(
      `INSERT INTO "AlertRule" (id, name, metric, "forSeconds", "lookbackSeconds", hysteresis, severity, enabled, "createdBy")
       VALUES (gen_random_uuid(), 'scope reads', 'error_rate', 0, 300, 0, 'warning', false, 'test') RETURNING id`,
    );
    const addAlert = async (subject: string, scenario: string, state: string) =>
      (
        await db.query<{ id: string }>(
          `INSERT INTO "Alert" (id, fingerprint, "ruleId", subject, scenario, state, "activeAt", "evaluatedAt")
           VALUES (gen_random_uuid(), $1, $2, $3, $4, $5, now(), now()) RETURNING id`,
          [randomUUID(), rule.rows[0]?.id, subject, scenario, state],
        )
      ).rows[0]?.id ?? '';
    alert.berlinArm = await addAlert(device.berlinArm, 'robotic_manipulation', 'firing');
    alert.parisArm = await addAlert(device.parisArm, 'robotic_manipulation', 'firing');
    alert.berlinData = await addAlert(device.berlinData, 'data_analysis_agent', 'pending');
    alert.dataRollout = await addAlert(rollout.rows[0]?.id ?? '', 'data_analysis_agent', 'firing');
    await db.query(
      `INSERT INTO "WebhookReceiver" (id, name, url, "secretEnc", "createdBy") VALUES ($1, 'scope reads', 'https://example.com/hook', 'x', 'test')`,
      [webhook],
    );
    for (const a of Object.values(alert))
      await db.query(
        `INSERT INTO "WebhookDelivery" ("receiverId", "alertId", notification, status, attempt, outcome, "durationMs")
         VALUES ($1, $2, $3, 'firing', 1, 'delivered', 5)`,
        [webhook, a, `n-${a}`],
      );
    for (const [id, deviceId] of [
      [action.berlinArm, device.berlinArm],
      [action.parisArm, device.parisArm],
    ])
      await db.query(
        `INSERT INTO "RemediationAction" (id, "deviceId", scenario, kind, status, rule, reason, before, after, "createdAt")
         VALUES ($1, $2, 'robotic_manipulation', 'rate_reduction', 'pending', 'scope reads', 'test', $3, $3, now())`,
        [id, deviceId, JSON.stringify({ variantId: null, precision: null, maxRateHz: null, dutyCycle: null })],
      );
    // one window each in the last hour: 100 inferences on berlin-arm, 200 on paris-arm, same variant;
    // stored as the ingest stores a window, pending the rollup fold (the energy report reads those raw)
    const start = new Date(Date.now() - 20 * 60_000);
    for (const [deviceId, inferences] of [
      [device.berlinArm, 100],
      [device.parisArm, 200],
    ] as const)
      await db.query(
        `WITH stored AS (
           INSERT INTO "TelemetryWindow" ("deviceId", "bootId", seq, "windowStart", "windowEnd", "variantId", "modelVersionId", precision,
             inferences, errors, "latencyP50Ms", "latencyP95Ms", "latencyP99Ms", "latencyMaxMs", "powerW", "powerSource", "powerDetail",
             "rssMb", "heapUsedMb", source)
           VALUES ($1, $1, 1, $2, $3, 'v-scope', 'mv-scope', 'fp32', $4, 0, 2, 3, 4, 5, 3, 'sensor', 'test', 60, 20, 'probe')
           RETURNING id, "windowStart")
         INSERT INTO "TelemetryRollupPending" ("windowId", "windowStart") SELECT id, "windowStart" FROM stored`,
        [deviceId, start, new Date(start.getTime() + 60_000), inferences],
      );
    for (const [targetType, targetId] of [
      ['device', device.berlinArm],
      ['device', device.parisArm],
      ['device', device.berlinData],
      ['scenario', 'robotic_manipulation'],
      ['scenario', 'data_analysis_agent'],
      ['rollout', rollout.rows[0]?.id ?? ''],
      ['api_token', randomUUID()],
    ])
      await db.query(`INSERT INTO "AuditEvent" (actor, action, "targetType", "targetId") VALUES ('test', 'test.scope', $1, $2)`, [
        targetType,
        targetId,
      ]);
  }, 120_000);

  const sorted = (...ids: string[]) => [...ids].sort();
  const data = async <T>(res: Response): Promise<T> => {
    expect(res.status, await res.clone().text()).toBe(200);
    const body = (await res.json()) as { result?: { data: T } } & T;
    return body.result ? body.result.data : body;
  };

  type Alerts = { items: { subject: string; ruleName: string; state: string }[]; firing: number; pending: number };
  /** The subjects of this test's alerts (the fleet's own rules alert on these devices too). */
  const subjects = async (res: Response): Promise<string[]> =>
    (await data<Alerts>(res)).items
      .filter((a) => a.ruleName === 'scope reads')
      .map((a) => a.subject)
      .sort();
  it('alerts: a scoped token lists those of its devices (and rollouts), counted alike; another one is a 404', async () => {
    expect(await subjects(await h.api('/api/v1/alerts?state=all'))).toHaveLength(4);
    expect(await subjects(await as(token.berlin, '/api/v1/alerts?state=all'))).toEqual(sorted(device.berlinArm, device.berlinData));
    expect(await subjects(await as(token.arm, '/api/v1/alerts?state=all'))).toEqual(sorted(device.berlinArm, device.parisArm));
    expect(await subjects(await trpcQuery(token.berlinArm, 'alerts.list', { state: 'all' }))).toEqual([device.berlinArm]);
    // the counts are the scope's too: those of the alerts it lists
    for (const t of [token.berlin, token.arm]) {
      const listed = await data<Alerts>(await as(t, '/api/v1/alerts?state=all'));
      const count = (state: string) => listed.items.filter((a) => a.state === state).length;
      expect({ firing: listed.firing, pending: listed.pending }).toEqual({ firing: count('firing'), pending: count('pending') });
    }
    const all = await data<Alerts>(await h.api('/api/v1/alerts'));
    const berlin = await data<Alerts>(await as(token.berlin, '/api/v1/alerts'));
    expect(berlin.firing).toBeLessThan(all.firing);
    expect((await as(token.berlin, `/api/v1/alerts/${alert.berlinArm}`)).status).toBe(200);
    expect((await as(token.berlin, `/api/v1/alerts/${alert.parisArm}`)).status).toBe(404);
    expect((await trpcQuery(token.arm, 'alerts.get', { id: alert.berlinData })).status).toBe(404);
    expect((await trpcQuery(token.arm, 'alerts.get', { id: alert.parisArm })).status).toBe(200);
    // a rollout's alert goes with the rollout: the scenario token of its target sees it
    const dataToken = `eft_op_${newSecret()}`;
    await h.cp.app
      .get(ApiTokenRepository)
      .create({ name: 'scope data', tokenHash: sha256Hex(dataToken), role: 'viewer', scenarios: ['data_analysis_agent'] });
    expect((await as(dataToken, `/api/v1/alerts/${alert.dataRollout}`)).status).toBe(200);
    expect((await as(token.berlin, `/api/v1/alerts/${alert.dataRollout}`)).status).toBe(404);
  });

  it("webhook deliveries: a scoped token sees the deliveries of its scope's alerts only", async () => {
    // this test's deliveries only: the receiver also hears of the fleet's own alerts as they fire
    const alerts = async (res: Response) =>
      (await data<{ items: { alertId: string }[] }>(res)).items
        .map((d) => d.alertId)
        .filter((id) => Object.values(alert).includes(id))
        .sort();
    expect(await alerts(await h.api(`/api/v1/webhooks/${webhook}/deliveries`))).toEqual(sorted(...Object.values(alert)));
    expect(await alerts(await as(token.berlin, `/api/v1/webhooks/${webhook}/deliveries`))).toEqual(
      sorted(alert.berlinArm, alert.berlinData),
    );
  });

  it('remediation actions: a scoped token lists and reads those of its devices only (REST and tRPC)', async () => {
    const devices = async (res: Response) => (await data<{ items: { deviceId: string }[] }>(res)).items.map((a) => a.deviceId).sort();
    expect(await devices(await h.api('/api/v1/remediation/actions'))).toEqual(sorted(device.berlinArm, device.parisArm));
    expect(await devices(await as(token.berlin, '/api/v1/remediation/actions'))).toEqual([device.berlinArm]);
    expect(await devices(await trpcQuery(token.arm, 'remediation.actions', {}))).toEqual(sorted(device.berlinArm, device.parisArm));
    expect(await devices(await trpcQuery(token.berlinArm, 'remediation.actions', {}))).toEqual([device.berlinArm]);
    expect((await as(token.berlin, `/api/v1/remediation/actions/${action.berlinArm}`)).status).toBe(200);
    expect((await as(token.berlin, `/api/v1/remediation/actions/${action.parisArm}`)).status).toBe(404);
    expect((await trpcQuery(token.berlinArm, 'remediation.action', { id: action.parisArm })).status).toBe(404);
  });

  it('energy report: a scoped token sums its devices only, every total recomputed over them', async () => {
    type Report = {
      scenarios: { scenario: string; variants: { variantId: string; observed: { devices: number; inferences: number } | null }[] }[];
    };
    const observed = async (res: Response) => {
      const r = await data<Report>(res);
      const v = r.scenarios.flatMap((s) => s.variants).find((x) => x.variantId === 'v-scope');
      return v?.observed ?? null;
    };
    expect(await observed(await h.api('/api/v1/energy?sinceHours=2'))).toMatchObject({ devices: 2, inferences: 300 });
    expect(await observed(await as(token.berlin, '/api/v1/energy?sinceHours=2'))).toMatchObject({ devices: 1, inferences: 100 });
    expect(await observed(await trpcQuery(token.arm, 'energy.report', { sinceHours: 2 }))).toMatchObject({ devices: 2, inferences: 300 });
    // scenario scope: its scenarios only, even with no window in the others
    const armReport = await data<Report>(await trpcQuery(token.arm, 'energy.report', { sinceHours: 2 }));
    expect(armReport.scenarios.map((s) => s.scenario)).toEqual(['robotic_manipulation']);
    const dataToken = `eft_op_${newSecret()}`;
    await h.cp.app
      .get(ApiTokenRepository)
      .create({ name: 'scope data energy', tokenHash: sha256Hex(dataToken), role: 'viewer', scenarios: ['data_analysis_agent'] });
    expect(await observed(await as(dataToken, '/api/v1/energy?sinceHours=2'))).toBeNull();
  });

  it('fleet overview: a scoped token counts its devices and sees its scenarios; a label scope gets no scenario-wide telemetry', async () => {
    type Overview = { total: number; byStatus: Record<string, number>; scenarios: { scenario: string; total: number; last24h: unknown }[] };
    // one hour of robotic_manipulation rollups: per (scenario, hardware class), not per device
    await db.query(
      `INSERT INTO "TelemetryGroupRollup" (scenario, "variantId", "hardwareClass", source, "bucketSeconds", "bucketStart", windows, inferences,
         errors, "cacheHits", fallbacks, "approxInferences", "approxP50Sum", "approxP95Sum", "approxP99Sum", "powerSumW", "powerMinW",
         "powerMaxW", "energyJ", "durationS", "powerSource", "firstWindowStart", "lastWindowEnd")
       VALUES ('robotic_manipulation', 'v-scope', 'cloud-cpu', 'probe', 3600, date_trunc('hour', now()), 1, 100, 0, 0, 0, 100, 2, 3, 4,
         3, 3, 3, 180, 60, 'sensor', date_trunc('hour', now()), date_trunc('hour', now()) + interval '1 minute')`,
    );
    const all = await data<Overview>(await h.api('/trpc/fleet.overview'));
    const berlin = await data<Overview>(await as(token.berlin, '/trpc/fleet.overview'));
    const arm = await data<Overview>(await as(token.arm, '/trpc/fleet.overview'));
    expect(all.total).toBe(3);
    expect(berlin.total).toBe(2);
    expect(berlin.byStatus.offline).toBe(2);
    expect(Object.fromEntries(berlin.scenarios.map((s) => [s.scenario, s.total]))).toMatchObject({
      robotic_manipulation: 1,
      data_analysis_agent: 1,
    });
    const last24h = (o: Overview) => o.scenarios.find((s) => s.scenario === 'robotic_manipulation')?.last24h ?? null;
    expect(last24h(all)).not.toBeNull();
    expect(last24h(arm)).toEqual(last24h(all));
    expect(berlin.scenarios.every((s) => s.last24h === null)).toBe(true);
    expect(arm.total).toBe(2);
    expect(arm.scenarios.map((s) => s.scenario)).toEqual(['robotic_manipulation']);
    // concurrent overviews share one read per scope, never one scope's answer with another
    for (let round = 0; round < 5; round++) {
      const answers = await Promise.all(
        [undefined, token.berlin, token.arm, undefined, token.berlin, token.arm].map(async (t) =>
          data<Overview>(await (t === undefined ? h.api('/trpc/fleet.overview') : as(t, '/trpc/fleet.overview'))),
        ),
      );
      expect(answers.map((o) => o.total)).toEqual([3, 2, 2, 3, 2, 2]);
      expect(answers.map((o) => o.scenarios.length)).toEqual([all, berlin, arm, all, berlin, arm].map((o) => o.scenarios.length));
    }
  });

  it("audit: a scoped auditor lists the events of its scope's devices, rollouts and scenarios only; verifying the chain stays refused", async () => {
    const targets = async (res: Response) =>
      (await data<{ items: { targetType: string; targetId: string }[] }>(res)).items.map((e) => `${e.targetType}:${e.targetId}`).sort();
    expect(await targets(await h.api('/api/v1/audit?action=test.scope'))).toHaveLength(7);
    expect(await targets(await as(token.berlinAuditor, '/api/v1/audit?action=test.scope'))).toEqual(
      sorted(`device:${device.berlinArm}`, `device:${device.berlinData}`),
    );
    const arm = await targets(await trpcQuery(token.armAuditor, 'audit.list', { action: 'test.scope' }));
    expect(arm).toEqual(sorted(`device:${device.berlinArm}`, `device:${device.parisArm}`, 'scenario:robotic_manipulation'));
    for (const res of [await as(token.armAuditor, '/api/v1/audit/verify'), await as(token.berlinAuditor, '/trpc/audit.verify')]) {
      expect(res.status).toBe(403);
      expect(await res.text()).toContain('this read covers the whole fleet');
    }
  });

  it('rollouts: the scope is applied in SQL before the list cap of 200, so an older rollout of the scope is still listed', async () => {
    const version = await uploadMlp(h, 'scope-cap-mlp', '1.0.0', 7);
    await db.query(
      `INSERT INTO "Rollout" (id, name, "modelVersionId", target, plan, status, "createdBy", "createdAt")
       VALUES (gen_random_uuid(), 'old-berlin', $1, '{"scenario":"robotic_manipulation","labels":{"site":"berlin"}}', '{}', 'completed', 'test', now() - interval '1 day')`,
      [version.id],
    );
    await db.query(
      `INSERT INTO "Rollout" (id, name, "modelVersionId", target, plan, status, "createdBy")
       SELECT gen_random_uuid(), 'paris-' || i, $1, '{"scenario":"robotic_manipulation","labels":{"site":"paris"}}', '{}', 'completed', 'test'
         FROM generate_series(1, 200) i`,
      [version.id],
    );
    expect(await names(await h.api('/api/v1/rollouts'))).not.toContain('old-berlin');
    expect(await names(await as(token.berlin, '/api/v1/rollouts'))).toContain('old-berlin');
    expect(await names(await trpcQuery(token.berlinArm, 'rollouts.list', undefined))).toContain('old-berlin');
  }, 120_000);
});
