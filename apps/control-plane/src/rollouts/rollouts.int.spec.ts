import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CreateRolloutInput, GateResult, Scenario } from '@edge-fleet/shared';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import { DESIRED_STATE } from '../desired-state/desired-state.queue.js';
import { jsonPost, setScenarioModel, startHarness, TEST_REDIS_URL, uploadMlp, waitFor, type Harness } from '../test-support/harness.js';
import { rolloutView, untilRollout } from '../test-support/rollout-client.js';
import { VirtualDevice, type VirtualDeviceBehaviour } from '../test-support/virtual-device.js';
import { RolloutsService, type RolloutView } from './rollouts.service.js';

let h: Harness;
let db: pg.Client;
const devices: VirtualDevice[] = [];
let v1: { id: string; variant: string };
let v2: { id: string; variant: string };
const SCENARIO: Scenario = 'data_analysis_agent'; // p99 target 500 ms, fp32

beforeAll(async () => {
  h = await startHarness({ ROLLOUT_SWEEP_MS: '500' });
  db = new pg.Client({ connectionString: h.dbUrl });
  await db.connect();
  v1 = await uploadMlp(h, 'detector', '1', 1);
  v2 = await uploadMlp(h, 'detector', '2', 2);
  for (const s of [SCENARIO, 'content_generation_agent']) await setScenarioModel(h, s, v1.id);
}, 60_000);

afterAll(async () => {
  await Promise.all(devices.map((d) => d.stop()));
  await db.end();
  await h.close();
});

/** n virtual devices running v1. */
async function fleet(n: number, behaviour: VirtualDeviceBehaviour = {}, scenario: Scenario = SCENARIO): Promise<VirtualDevice[]> {
  const out = await Promise.all(Array.from({ length: n }, () => VirtualDevice.start(h, scenario, 'cloud-cpu-node', behaviour)));
  devices.push(...out);
  await waitFor(() => Promise.resolve(out.every((d) => d.active?.variantId === v1.variant)), 15_000, 'devices running v1');
  return out;
}

const create = (body: Partial<CreateRolloutInput> & Pick<CreateRolloutInput, 'target' | 'waves'>) =>
  jsonPost(h, '/api/v1/rollouts', { modelVersionId: v2.id, ...body });
const view = (id: string) => rolloutView(h, id);
const until = (id: string, statuses: string[], ms = 30_000) => untilRollout(h, id, statuses, ms);
const errorOf = async (r: Response) => ((await r.json()) as { error: { message: string } }).error.message;
const gateOf = (g: GateResult | null | undefined, metric: string) => g?.gates.find((x) => x.metric === metric);
const slowOnV2 = (variantId: string) => (variantId === v2.variant ? 900 : 5);

describe('staged rollouts', () => {
  it('takes a healthy model through every wave, judged against a baseline on the same hardware', async () => {
    const ds = await fleet(4);
    const res = await create({
      name: 'healthy',
      target: { deviceIds: ds.map((d) => d.id) },
      waves: [
        { count: 1, soakSeconds: 2 },
        { percent: 50, soakSeconds: 2 },
        { percent: 50, soakSeconds: 1 },
      ],
    });
    expect(res.status).toBe(201);
    const created = (await res.json()) as RolloutView;
    expect(created.waves.map((w) => w.size)).toEqual([1, 2, 1]);
    const done = await until(created.id, ['completed', 'paused', 'rolled_back']);
    expect(done.status, done.reason).toBe('completed');
    expect(done.waves.map((w) => w.status)).toEqual(['passed', 'passed', 'passed']);
    expect(ds.every((d) => d.active?.variantId === v2.variant)).toBe(true);
    const canary = done.waves[0]?.gate;
    expect(gateOf(canary, 'latency')).toMatchObject({ passed: true, judged: 1, figure: 5, threshold: 500 });
    // the three devices of the later waves still ran v1 on the same hardware class: the canary is compared with them
    expect(gateOf(canary, 'baseline_regression')).toMatchObject({ passed: true, judged: 1 });
    expect(gateOf(canary, 'baseline_regression')?.detail).toContain(
      'dc-cpu-100t: baseline ≈ 5 ms over 3 device(s), compared approximately (legacy agents',
    );
    const audit = await db.query<{ action: string }>(`SELECT action FROM "AuditEvent" WHERE "targetId" = $1 ORDER BY id`, [created.id]);
    expect(audit.rows.map((r) => r.action)).toEqual([
      'rollout.created',
      'rollout.wave_started',
      'rollout.wave_passed',
      'rollout.wave_started',
      'rollout.wave_passed',
      'rollout.wave_started',
      'rollout.wave_passed',
      'rollout.status',
    ]);
  }, 60_000);

  it('stops a slow model at the canary and sends the canary back to the model it ran', async () => {
    const ds = await fleet(3, { latencyMs: slowOnV2 });
    const created = (await (
      await create({
        name: 'slow',
        target: { deviceIds: ds.map((d) => d.id) },
        waves: [
          { count: 1, soakSeconds: 2 },
          { percent: 100, soakSeconds: 2 },
        ],
      })
    ).json()) as RolloutView;
    const done = await until(created.id, ['completed', 'paused', 'rolled_back']);
    expect(done.status).toBe('rolled_back');
    expect(done.reason).toContain('wave 1 failed its gates: latency');
    const latency = gateOf(done.waves[0]?.gate, 'latency');
    expect(latency).toMatchObject({ passed: false, failing: 1, figure: 900, threshold: 500 });
    // these virtual devices send no histograms, like agents that predate them: the figure is marked approximate
    expect(latency?.failingDevices[0]?.why).toBe('p99 ≈ 900 ms (median of window p99s: legacy agent without histograms) > 500 ms');
    expect(done.waves.map((w) => w.status)).toEqual(['rolled_back', 'pending']);
    const canary = ds.find((d) => d.received.some((s) => s.model?.variantId === v2.variant));
    expect(canary).toBeDefined();
    await waitFor(() => Promise.resolve(canary?.active?.variantId === v1.variant), 10_000, 'canary back on v1');
    // the rollback is a new, higher-numbered instruction pinning the old model
    const last = canary?.received.at(-1);
    expect(last?.model?.variantId).toBe(v1.variant);
    expect(last?.reason).toContain('rolled back');
    expect(ds.filter((d) => d !== canary).every((d) => d.received.every((s) => s.model?.variantId !== v2.variant))).toBe(true);
  }, 60_000);

  it('pauses before the next wave when 30 % of the canaries break the target and only 20 % may (reliability row 23)', async () => {
    const ds = await fleet(20);
    // the canary's own gates (the rollout's default gates would allow no failing device at all)
    const gates = [
      { metric: 'latency' as const, maxFailingShare: 0.2 },
      { metric: 'silence' as const },
      { metric: 'update_failures' as const },
    ];
    const res = await create({
      name: 'thirty-percent',
      target: { deviceIds: ds.map((d) => d.id) },
      waves: [
        { count: 10, soakSeconds: 3, gates },
        { percent: 100, soakSeconds: 1 },
      ],
      failurePolicy: 'pause',
    });
    expect(res.status).toBe(201);
    const created = (await res.json()) as RolloutView;
    // three of the ten canaries (drawn by hash) turn out slow on the new model
    const canary = new Set(created.deviceStates.filter((d) => d.wave === 0).map((d) => d.deviceId));
    const slow = ds.filter((d) => canary.has(d.id)).slice(0, 3);
    for (const d of slow) d.behaviour = { latencyMs: slowOnV2 };
    const done = await until(created.id, ['paused', 'completed', 'rolled_back']);
    expect(done.status).toBe('paused');
    expect(gateOf(done.waves[0]?.gate, 'latency')).toMatchObject({ passed: false, judged: 10, failing: 3, maxFailingShare: 0.2 });
    expect(done.waves[0]?.gate?.gates.map((g) => g.metric)).toEqual(['latency', 'silence', 'update_failures']);
    expect(done.waves.map((w) => w.status)).toEqual(['failed', 'pending']);
    expect(done.reason).toContain('wave 1 failed its gates: latency (3 of 10 device(s)');
    // nothing reached the second wave
    expect(ds.filter((d) => !canary.has(d.id)).every((d) => d.received.every((s) => s.model?.variantId !== v2.variant))).toBe(true);
    await h.api(`/api/v1/rollouts/${created.id}/abort`, { method: 'POST' });
  }, 60_000);

  it('waits for an approval before a wave that asks for one, and refuses actions that do not apply', async () => {
    const ds = await fleet(3);
    const created = (await (
      await create({
        name: 'approval',
        target: { deviceIds: ds.map((d) => d.id) },
        waves: [
          { count: 1, soakSeconds: 1 },
          // 3 s: with 1 s, a loaded machine once judged a device silent before its first window was in
          { percent: 100, soakSeconds: 3, requireApproval: true },
        ],
      })
    ).json()) as RolloutView;
    const waiting = await until(created.id, ['awaiting_approval', 'completed', 'rolled_back', 'paused']);
    expect(waiting.status).toBe('awaiting_approval');
    expect(waiting.reason).toBe("wave 2 waits for an operator's approval");
    expect(waiting.waves.map((w) => w.status)).toEqual(['passed', 'pending']);
    expect(ds.filter((d) => d.received.some((s) => s.model?.variantId === v2.variant))).toHaveLength(1);
    const resume = await h.api(`/api/v1/rollouts/${created.id}/resume`, { method: 'POST' });
    expect(resume.status).toBe(409);
    expect(await errorOf(resume)).toContain('only a paused rollout can be resumed');
    const approved = await h.api(`/api/v1/rollouts/${created.id}/approve`, { method: 'POST' });
    expect(approved.status).toBe(200);
    const done = await until(created.id, ['completed', 'rolled_back', 'paused']);
    expect(done.status, done.reason).toBe('completed');
    expect(ds.every((d) => d.active?.variantId === v2.variant)).toBe(true);
    const audit = await db.query<{ action: string; actor: string }>(
      `SELECT action, actor FROM "AuditEvent" WHERE "targetId" = $1 AND action = 'rollout.approve'`,
      [created.id],
    );
    expect(audit.rows).toHaveLength(1);
    expect(audit.rows[0]?.actor).toMatch(/^operator:/);
    expect((await h.api(`/api/v1/rollouts/${created.id}/approve`, { method: 'POST' })).status).toBe(409);
  }, 60_000);

  it('counts a silent device as failed, pauses on the pause policy, and abort rolls it back', async () => {
    const ds = await fleet(2, {});
    for (const d of ds) d.behaviour = { silent: true };
    const created = (await (
      await create({
        name: 'silent',
        target: { deviceIds: ds.map((d) => d.id) },
        waves: [
          { count: 1, soakSeconds: 2 },
          { percent: 100, soakSeconds: 1 },
        ],
        failurePolicy: 'pause',
      })
    ).json()) as RolloutView;
    const paused = await until(created.id, ['paused', 'completed', 'rolled_back']);
    expect(paused.status).toBe('paused');
    expect(paused.reason).toContain('silence');
    expect(gateOf(paused.waves[0]?.gate, 'silence')?.failingDevices[0]?.why).toBe('applied the model but sent no telemetry with it');
    const aborted = (await (await h.api(`/api/v1/rollouts/${created.id}/abort`, { method: 'POST' })).json()) as RolloutView;
    expect(aborted.status).toBe('aborted');
    expect(aborted.waves.map((w) => w.status)).toEqual(['rolled_back', 'pending']);
    expect(aborted.deviceStates.filter((d) => d.state === 'rolled_back')).toHaveLength(1);
    const again = await h.api(`/api/v1/rollouts/${created.id}/resume`, { method: 'POST' });
    expect(again.status).toBe(409);
    expect(await errorOf(again)).toContain('only a paused rollout can be resumed');
  }, 60_000);

  it('fails the gate on an update the device reports as failed (smoke test)', async () => {
    const ds = await fleet(2, {});
    for (const d of ds) d.behaviour = { failUpdate: 'smoke_failed' };
    const created = (await (
      await create({
        name: 'nan',
        target: { deviceIds: ds.map((d) => d.id) },
        waves: [
          { count: 1, soakSeconds: 2 },
          { percent: 100, soakSeconds: 1 },
        ],
      })
    ).json()) as RolloutView;
    const done = await until(created.id, ['rolled_back', 'completed', 'paused']);
    expect(done.status).toBe('rolled_back');
    expect(gateOf(done.waves[0]?.gate, 'update_failures')?.failingDevices[0]?.why).toContain('smoke_failed');
    expect(done.deviceStates.find((d) => d.wave === 0)?.reason).toContain('smoke_failed');
  }, 60_000);

  it('fails the wave when no variant of the model fits its devices, instead of passing it empty', async () => {
    const scenario: Scenario = 'content_generation_agent';
    const ds = await fleet(2, {}, scenario);
    const policy = ((await (await h.api('/api/v1/policies')).json()) as { items: Record<string, unknown>[] }).items.find(
      (p) => p.scenario === scenario,
    );
    const { scenario: _s, model: _m, ...settings } = policy ?? {};
    const put = (latencyTargetMs: unknown) =>
      h.api(`/api/v1/policies/${scenario}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ...settings, latencyTargetMs }),
      });
    // a target no measured or predicted latency meets: every device is refused before download
    expect((await put(0.000_001)).status).toBe(200);
    try {
      const created = (await (
        await create({
          name: 'fits nothing',
          target: { deviceIds: ds.map((d) => d.id) },
          waves: [
            { count: 1, soakSeconds: 1 },
            { percent: 100, soakSeconds: 1 },
          ],
        })
      ).json()) as RolloutView;
      const done = await until(created.id, ['rolled_back', 'completed', 'paused']);
      expect(done.status, done.reason).toBe('rolled_back');
      expect(done.waves.map((w) => w.status)).toEqual(['rolled_back', 'pending']);
      expect(gateOf(done.waves[0]?.gate, 'update_failures')?.failingDevices[0]?.why).toMatch(/^refused before download: /);
      expect(ds.every((d) => d.active?.variantId === v1.variant)).toBe(true);
    } finally {
      await put(settings.latencyTargetMs);
    }
  }, 60_000);

  it('refuses bad input with an error naming the problem, and changes nothing', async () => {
    const ds = await fleet(2);
    const ids = ds.map((d) => d.id);
    const before = await db.query<{ a: number; r: number }>(
      'SELECT (SELECT count(*) FROM "Assignment")::int AS a, (SELECT count(*) FROM "Rollout")::int AS r',
    );
    const cases: [Partial<CreateRolloutInput> & Pick<CreateRolloutInput, 'target' | 'waves'>, number, string][] = [
      [
        { modelVersionId: '00000000-0000-4000-8000-000000000000', target: { deviceIds: ids }, waves: [{ percent: 100, soakSeconds: 1 }] },
        404,
        'model version 00000000-0000-4000-8000-000000000000 not found',
      ],
      [{ target: {}, waves: [{ percent: 100, soakSeconds: 1 }] }, 400, 'the target is empty'],
      [
        {
          target: { deviceIds: ids },
          waves: [
            { percent: 10, soakSeconds: 1 },
            { percent: 80, soakSeconds: 1 },
          ],
        },
        400,
        'the waves add up to 90 % of the target; they must add up to 100 %',
      ],
      [
        { target: { deviceIds: ids }, waves: [{ percent: 100, soakSeconds: 1 }], gates: [{ metric: 'temperature' as 'latency' }] },
        400,
        'gates.0.metric: metric "temperature" does not exist',
      ],
      [
        { target: { deviceIds: [...ids, '00000000-0000-4000-8000-0000000000ff'] }, waves: [{ percent: 100, soakSeconds: 1 }] },
        400,
        'unknown or revoked device(s): 00000000-0000-4000-8000-0000000000ff',
      ],
      [{ target: { scenario: 'financial_trading' }, waves: [{ percent: 100, soakSeconds: 1 }] }, 400, 'the target matches no device'],
    ];
    for (const [body, status, message] of cases) {
      const res = await create(body);
      expect(res.status, message).toBe(status);
      expect(await errorOf(res)).toContain(message);
    }
    const after = await db.query<{ a: number; r: number }>(
      'SELECT (SELECT count(*) FROM "Assignment")::int AS a, (SELECT count(*) FROM "Rollout")::int AS r',
    );
    expect(after.rows[0]).toEqual(before.rows[0]);

    // one active rollout per device: the second is refused naming the devices they share
    const first = (await (
      await create({ name: 'long', target: { deviceIds: [ids[0] ?? ''] }, waves: [{ percent: 100, soakSeconds: 600 }] })
    ).json()) as RolloutView;
    const overlap = await create({ target: { deviceIds: ids }, waves: [{ percent: 100, soakSeconds: 1 }] });
    expect(overlap.status).toBe(409);
    const msg = await errorOf(overlap);
    expect(msg).toContain(`already in active rollout long (${first.id})`);
    expect(msg).toContain(ids[0]);
    expect(msg).not.toContain(ids[1]);
    // and a direct scenario assignment would race the rollout
    const direct = await h.api(`/api/v1/scenarios/${SCENARIO}/model`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ modelVersionId: v2.id }),
    });
    expect(direct.status).toBe(409);
    expect((await (await h.api(`/api/v1/rollouts/${first.id}/abort`, { method: 'POST' })).json()) as RolloutView).toMatchObject({
      status: 'aborted',
    });
    expect((await h.api(`/api/v1/rollouts/${first.id}/explode`, { method: 'POST' })).status).toBe(400);
  }, 60_000);

  it('lets a device enrolled into the target join the running wave, and gives the scenario the model at the end', async () => {
    const scenario: Scenario = 'content_generation_agent';
    await fleet(2, {}, scenario);
    const created = (await (
      await create({
        name: 'late',
        target: { scenario },
        waves: [
          { count: 1, soakSeconds: 4 },
          { percent: 100, soakSeconds: 1 },
        ],
      })
    ).json()) as RolloutView;
    await waitFor(async () => (await view(created.id)).waves[0]?.status === 'soaking', 10_000, 'canary soaking');
    const [late] = await Promise.all([VirtualDevice.start(h, scenario, 'cloud-cpu-node')]);
    if (!late) throw new Error('no device');
    devices.push(late);
    await waitFor(() => Promise.resolve(late.active?.variantId === v2.variant), 10_000, 'late device on v2');
    const done = await until(created.id, ['completed', 'paused', 'rolled_back']);
    expect(done.status, done.reason).toBe('completed');
    expect(done.deviceStates.find((d) => d.deviceId === late.id)).toMatchObject({ wave: 0, late: true, state: 'applied' });
    expect(done.reason).toContain(`${scenario} now runs this model version`);
    const policy = await db.query<{ v: string }>('SELECT "modelVersionId" AS v FROM "Policy" WHERE scenario = $1', [scenario]);
    expect(policy.rows[0]?.v).toBe(v2.id);
  }, 60_000);

  it('notifies a wave at its rate, each device once, with the sweep running', async () => {
    // the sweep (every 500 ms here) once re-queued every notified device as one batch: all six heard at once, then again each at its time
    const rate = 0.5;
    const ds = await fleet(6);
    const created = (await (
      await create({
        name: 'paced',
        target: { deviceIds: ds.map((d) => d.id) },
        waves: [{ percent: 100, soakSeconds: 1 }],
        notifyRatePerSecond: rate,
      })
    ).json()) as RolloutView;
    const onV2 = (d: VirtualDevice) => d.deliveries.filter((x) => x.variantId === v2.variant);
    await waitFor(() => Promise.resolve(ds.every((d) => onV2(d).length > 0)), 60_000, 'every device told of v2');
    // every notification was due before the soak ended: a doubled one has arrived by then
    await until(created.id, ['completed', 'paused', 'rolled_back'], 60_000);
    const startedAt = Date.parse((await view(created.id)).waves[0]?.startedAt ?? '');
    expect(Number.isFinite(startedAt)).toBe(true);
    for (const d of ds) expect(onV2(d), `device ${d.id} told of v2 once`).toHaveLength(1);
    const heardAfterMs = ds.map((d) => (onV2(d)[0]?.at ?? 0) - startedAt).sort((a, b) => a - b);
    // device k's notification is due k / rate s after the wave started (plus up to one slot of jitter);
    // lower bounds only: a loaded machine makes every delivery later, never earlier
    heardAfterMs.forEach((ms, k) =>
      expect(ms, `device #${k + 1} heard ${ms} ms after the wave started`).toBeGreaterThanOrEqual((k / rate) * 1_000 - 250),
    );
  }, 120_000);

  it('re-queues a notification lost between commit and enqueue for its own time, and sends it once', async () => {
    const rate = 0.5;
    const ds = await fleet(4);
    const connection = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
    const queue = new Queue(DESIRED_STATE.name, { connection, prefix: h.config.QUEUE_PREFIX });
    try {
      const created = (await (
        await create({
          name: 'recovered',
          target: { deviceIds: ds.map((d) => d.id) },
          waves: [{ percent: 100, soakSeconds: 1 }],
          notifyRatePerSecond: rate,
        })
      ).json()) as RolloutView;
      await waitFor(async () => (await view(created.id)).waves[0]?.status === 'soaking', 20_000, 'wave soaking');
      // as if the process that started the wave died after its commit: its notifications leave the
      // queue (they are enqueued just after the commit that says "soaking", so they are waited for;
      // devices 3 and 4 are due 4 s and 6 s after the start, so at least they are still delayed)
      const ours = new Set(ds.map((d) => d.id));
      const delayed = await waitFor(
        async () => {
          const jobs = (await queue.getDelayed()).filter((j) => ours.has((j.data as { deviceId?: string }).deviceId ?? ''));
          return jobs.length >= 2 ? jobs : null;
        },
        20_000,
        "the wave's delayed notifications",
      );
      // one that turned due meanwhile is being sent, not lost: it stays
      for (const job of delayed) await job.remove().catch(() => undefined);
      const onV2 = (d: VirtualDevice) => d.deliveries.filter((x) => x.variantId === v2.variant);
      await waitFor(() => Promise.resolve(ds.every((d) => onV2(d).length > 0)), 60_000, 'every device told of v2 by the sweep');
      await until(created.id, ['completed', 'paused', 'rolled_back'], 60_000);
      const startedAt = Date.parse((await view(created.id)).waves[0]?.startedAt ?? '');
      for (const d of ds) expect(onV2(d), `device ${d.id} told of v2 once`).toHaveLength(1);
      const heardAfterMs = ds.map((d) => (onV2(d)[0]?.at ?? 0) - startedAt).sort((a, b) => a - b);
      heardAfterMs.forEach((ms, k) =>
        expect(ms, `device #${k + 1} heard ${ms} ms after the wave started`).toBeGreaterThanOrEqual((k / rate) * 1_000 - 250),
      );
    } finally {
      await queue.close();
      connection.disconnect();
    }
  }, 120_000);

  it('runs a step once however many times its job is delivered', async () => {
    const ds = await fleet(3);
    const created = (await (
      await create({
        name: 'once',
        target: { deviceIds: ds.map((d) => d.id) },
        waves: [
          { count: 2, soakSeconds: 600 },
          { percent: 100, soakSeconds: 1 },
        ],
        notifyRatePerSecond: 1,
      })
    ).json()) as RolloutView;
    const service = h.cp.app.get(RolloutsService);
    // the queued job, a replica's duplicate and a late retry all race on step 1 (one that finds the row locked fails and would be retried)
    await Promise.allSettled([
      service.advance({ rolloutId: created.id, step: 1 }),
      service.advance({ rolloutId: created.id, step: 1 }),
      service.advance({ rolloutId: created.id, step: 1 }),
    ]);
    await waitFor(async () => (await view(created.id)).waves[0]?.status === 'soaking', 10_000, 'wave soaking');
    await service.advance({ rolloutId: created.id, step: 1 });
    // at one notification a second the last canary hears 2 s after the first: its soak starts then
    const wave = (await view(created.id)).waves[0];
    expect(Date.parse(wave?.soakUntil ?? '') - Date.parse(wave?.startedAt ?? '')).toBe(602_000);
    const rows = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM "Assignment" WHERE "createdBy" = $1`, [
      `rollout:${created.id}`,
    ]);
    expect(rows.rows[0]?.n).toBe(2);
    await h.api(`/api/v1/rollouts/${created.id}/abort`, { method: 'POST' });
  }, 60_000);
});
