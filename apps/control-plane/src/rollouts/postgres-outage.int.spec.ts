import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GateResult, Scenario } from '@edge-fleet/shared';
import pg from 'pg';
import { PG_POOL } from '../infra/tokens.js';
import { jsonPost, setScenarioModel, startHarnessBehindProxy, uploadMlp, waitFor, type Harness } from '../test-support/harness.js';
import type { TcpProxy } from '@edge-fleet/test-utils';
import { checkRollout, checkTelemetry, modelViolations } from '../test-support/history.js';
import { VirtualDevice } from '../test-support/virtual-device.js';
import type { RolloutView } from './rollouts.service.js';

/**
 * Reliability row 19: Postgres goes away for 30 s (the matrix's length) while devices send telemetry and a
 * rollout's canary soaks. The control plane reaches Postgres only through a TCP proxy that the test
 * cuts (every open connection severed, new ones refused, as when Postgres is down) and restores.
 * The canary's soak (3 s) ends inside the outage, so its evaluation is due while the control plane is
 * blind. Expected: the API answers 503 at once instead of hanging; no wave is judged (nor advanced)
 * before Postgres is back; telemetry sent during the outage is committed afterwards (no gap in the
 * canary's sequence), so the canary counts as reporting; and the rollout then completes.
 *
 * The test's own checks use a direct connection to Postgres (not through the proxy).
 */
const SCENARIO: Scenario = 'data_analysis_agent'; // p99 target 500 ms, fp32
const DEVICES = 3;
const SOAK_S = 3;
const OUTAGE_MS = 30_000;
/** "Fast" for an API answer while the database is away. */
const FAST_MS = 2_000;
/** The pool's connect timeout (`infra/prisma.ts`). */
const CONNECT_TIMEOUT_MS = 5_000;

let proxy: TcpProxy;
let h: Harness;
let closeHarness: () => Promise<void>;
let direct: pg.Client;
const devices: VirtualDevice[] = [];
let v1: { id: string; variant: string };
let v2: { id: string; variant: string };

beforeAll(async () => {
  let db: { url: string };
  ({ h, proxy, db, close: closeHarness } = await startHarnessBehindProxy({ ROLLOUT_SWEEP_MS: '500' }));
  direct = new pg.Client({ connectionString: db.url });
  await direct.connect();
  v1 = await uploadMlp(h, 'detector', '1', 1);
  v2 = await uploadMlp(h, 'detector', '2', 2);
}, 60_000);

afterAll(async () => {
  await proxy.restore().catch(() => undefined); // should a failed test leave it cut, let the control plane stop cleanly
  await Promise.all(devices.map((d) => d.stop()));
  await direct.end().catch(() => undefined);
  await closeHarness();
}, 30_000);

const view = async (id: string) => (await (await h.api(`/api/v1/rollouts/${id}`)).json()) as RolloutView;
const gateOf = (g: GateResult | null | undefined, metric: string) => g?.gates.find((x) => x.metric === metric);
/** The number of windows the device has sent so far (its next `seq`); the virtual device keeps it private. */
const sentBy = (d: VirtualDevice): number => Number(Reflect.get(d, 'seq'));

interface Probe {
  at: number;
  ms: number;
  status: number | string;
  body: string;
}

describe('Postgres away for 30 s during ingest and a rollout (RELIABILITY row 19)', () => {
  // refuse: Postgres is down (connections refused at once); blackhole: a network partition (connections
  // neither refused nor answered), where each request used to wait for the pool's 5 s connect timeout
  it.each(['refuse', 'blackhole'] as const)(
    'row 19 (%s): answers 503 fast, judges no wave while blind, loses no telemetry, and completes the rollout afterwards',
    async (cut) => {
      // each run starts from v1 (the previous run's rollout made v2 the scenario's model)
      await setScenarioModel(h, SCENARIO, v1.id);
      const ds = await Promise.all(Array.from({ length: DEVICES }, () => VirtualDevice.start(h, SCENARIO, 'cloud-cpu-node')));
      devices.push(...ds);
      await waitFor(() => Promise.resolve(ds.every((d) => d.active?.variantId === v1.variant)), 15_000, 'devices running v1');

      const res = await jsonPost(h, '/api/v1/rollouts', {
        modelVersionId: v2.id,
        name: `pg-outage-${cut}`,
        target: { deviceIds: ds.map((d) => d.id) },
        waves: [
          { count: 1, soakSeconds: SOAK_S },
          { percent: 100, soakSeconds: SOAK_S },
        ],
      });
      expect(res.status).toBe(201);
      const created = (await res.json()) as RolloutView;
      const canaryId = created.deviceStates.find((d) => d.wave === 0)?.deviceId;
      const canary = ds.find((d) => d.id === canaryId);
      if (!canary) throw new Error('no canary in wave 1');

      // wave 1 soaks and the canary runs v2 (its report recorded): the outage starts now, well inside the soak
      const soaking = await waitFor(
        async () => {
          const v = await view(created.id);
          return v.waves[0]?.status === 'soaking' &&
            v.deviceStates.find((d) => d.deviceId === canary.id)?.state === 'applied' &&
            canary.active?.variantId === v2.variant
            ? v
            : null;
        },
        10_000,
        'wave 1 soaking with the canary on v2',
      );
      const soakUntil = Date.parse(soaking.waves[0]?.soakUntil ?? '');
      const cutAt = Date.now();
      expect(soakUntil - cutAt, 'the soak must end inside the outage').toBeGreaterThan(500);
      expect(soakUntil - cutAt).toBeLessThan(OUTAGE_MS - 2_000);
      const sentAtCut = sentBy(canary);
      await proxy.cut(cut);

      // while blind: the API answers, fast, with 503 `unavailable`
      const probes: Probe[] = [];
      const blindChecks: { status: string; evaluatedAt: Date | null; currentWave: number }[] = [];
      while (Date.now() - cutAt < OUTAGE_MS) {
        const t0 = Date.now();
        let status: number | string;
        let body = '';
        try {
          const r = await h.api(`/api/v1/rollouts/${created.id}`, { signal: AbortSignal.timeout(10_000) });
          status = r.status;
          body = await r.text();
        } catch (e) {
          status = e instanceof Error ? e.name : String(e); // e.g. TimeoutError: the API hung
        }
        probes.push({ at: t0 - cutAt, ms: Date.now() - t0, status, body });
        // the test's own, direct view of Postgres: wave 1 is neither judged nor advanced
        const w = await direct.query<{ status: string; evaluatedAt: Date | null; currentWave: number }>(
          `SELECT w.status, w."evaluatedAt", r."currentWave" FROM "RolloutWave" w JOIN "Rollout" r ON r.id = w."rolloutId" WHERE w."rolloutId" = $1 AND w.index = 0`,
          [created.id],
        );
        if (w.rows[0]) blindChecks.push(w.rows[0]);
        await sleep(Math.max(0, 700 - (Date.now() - t0)));
      }
      const sentAtRestore = sentBy(canary);
      await proxy.restore();
      const restoredAt = Date.now();

      const summary = probes.map((p) => `+${p.at}ms ${String(p.status)} in ${p.ms}ms`).join(', ');
      expect(probes.length, summary).toBeGreaterThanOrEqual(5);
      // Black-holed, the request that finds no usable pooled connection waits for the pool's 5 s connect
      // timeout: that failure is what trips the breaker (unless ingest or a reset pooled connection tripped it
      // first). At most that one request is slow; every later one is answered at once.
      const slow = probes.filter((p) => p.ms >= FAST_MS);
      expect(slow.length, `slow probes: ${summary}`).toBeLessThanOrEqual(cut === 'blackhole' ? 1 : 0);
      for (const p of slow) expect(p, `only the first probe may wait for the connect timeout: ${summary}`).toBe(probes[0]);
      for (const p of probes)
        expect(p.ms, `probe at +${p.at} ms took ${p.ms} ms: ${summary}`).toBeLessThan(
          p === probes[0] ? CONNECT_TIMEOUT_MS + FAST_MS : FAST_MS,
        );
      // once found here: only a request whose connection was severed mid-query got 503; later ones got 500
      // `internal` because Prisma's "Can't reach database server at …" (P1001) was not recognised as the
      // database being down (src/infra/http-exception.filter.ts now knows P1001 and its message)
      const wrong = probes.filter((p) => p.status !== 503 || !p.body.includes('"code":"unavailable"'));
      expect(
        wrong.map((p) => `+${p.at}ms ${String(p.status)} ${p.body}`),
        `every probe while blind must be 503 unavailable: ${summary}`,
      ).toEqual([]);
      // the soak ended during the outage, yet nothing was judged or advanced
      expect(Date.now()).toBeGreaterThan(soakUntil);
      expect(blindChecks.length).toBeGreaterThan(0);
      expect(
        blindChecks.every((c) => c.status === 'soaking' && c.evaluatedAt === null && c.currentWave === 0),
        JSON.stringify(blindChecks),
      ).toBe(true);

      // once found here: the telemetry repository's own pg.Pool (src/app.ts) had no 'error' listener, so an idle
      // connection of it that Postgres dropped was re-emitted as an uncaught exception ("Connection terminated
      // unexpectedly"), which would end a production process
      expect(h.cp.app.get<pg.Pool>(PG_POOL).listenerCount('error'), 'the telemetry pg.Pool needs an error listener').toBeGreaterThan(0);

      // after the restore: the step retries (BullMQ backoff), judges wave 1 with what the canary sent, and the rollout completes
      const done = await waitFor(
        async () => {
          const r = await h.api(`/api/v1/rollouts/${created.id}`);
          if (r.status !== 200) return null;
          const v = (await r.json()) as RolloutView;
          return ['completed', 'paused', 'rolled_back', 'aborted'].includes(v.status) ? v : null;
        },
        40_000,
        'the rollout to end after the outage',
      );
      expect(done.status, done.reason).toBe('completed');
      expect(done.waves.map((w) => w.status)).toEqual(['passed', 'passed']);
      const wave1 = done.waves[0];
      expect(
        Date.parse(wave1?.evaluatedAt ?? ''),
        `wave 1 evaluated at ${String(wave1?.evaluatedAt)}, restored at ${new Date(restoredAt).toISOString()}`,
      ).toBeGreaterThanOrEqual(restoredAt);
      expect(Date.parse(done.waves[1]?.startedAt ?? '')).toBeGreaterThanOrEqual(restoredAt);
      // the canary is counted as reporting (not silent), and its figures include the windows sent while blind
      expect(gateOf(wave1?.gate, 'silence')).toMatchObject({ passed: true, judged: 1, failing: 0 });
      expect(wave1?.gate?.passed).toBe(true);
      const figures = done.deviceStates.find((d) => d.deviceId === canary.id)?.figures;
      expect(Number(figures?.windows ?? 0), JSON.stringify(figures)).toBeGreaterThanOrEqual(sentAtRestore - sentAtCut);
      expect(ds.every((d) => d.active?.variantId === v2.variant)).toBe(true);
      // one wave_passed per wave, no wave_failed, no rollback
      const audit = await direct.query<{ action: string }>(`SELECT action FROM "AuditEvent" WHERE "targetId" = $1 ORDER BY id`, [
        created.id,
      ]);
      expect(audit.rows.map((r) => r.action)).toEqual([
        'rollout.created',
        'rollout.wave_started',
        'rollout.wave_passed',
        'rollout.wave_started',
        'rollout.wave_passed',
        'rollout.status',
      ]);

      // no telemetry lost: every window every device sent, the outage's included, is in Postgres, without a gap
      // the windows each device had sent when its check began: it goes on sending, and a window still in
      // flight at the checker's read is neither acknowledged nor lost
      const checked = new Map<string, number>();
      for (const d of ds) {
        const sent = sentBy(d);
        checked.set(d.id, sent);
        const rows = await waitFor(
          async () => {
            const q = await direct.query<{ seq: string }>(
              `SELECT seq::text FROM "TelemetryWindow" WHERE "deviceId" = $1 AND "bootId" = $2 AND seq < $3 ORDER BY seq`,
              [d.id, d.bootId, sent],
            );
            return q.rows.length === sent ? q.rows : null;
          },
          10_000,
          `all ${sent} windows of device ${d.id}`,
        ).catch(
          async () =>
            (
              await direct.query<{ seq: string }>(
                `SELECT seq::text FROM "TelemetryWindow" WHERE "deviceId" = $1 AND "bootId" = $2 AND seq < $3 ORDER BY seq`,
                [d.id, d.bootId, sent],
              )
            ).rows,
        );
        const seqs = rows.map((r) => Number(r.seq));
        const missing = Array.from({ length: sent }, (_, i) => i).filter((i) => !seqs.includes(i));
        expect(
          missing,
          `device ${d.id}${d === canary ? ' (canary)' : ''}: ${missing.length} of ${sent} windows missing (outage: seq ${sentAtCut}..${sentAtRestore - 1} for the canary)`,
        ).toEqual([]);
      }
      const outage = await direct.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM "TelemetryWindow" WHERE "deviceId" = $1 AND "bootId" = $2 AND seq >= $3 AND seq < $4`,
        [canary.id, canary.bootId, sentAtCut, sentAtRestore],
      );
      expect(outage.rows[0]?.n).toBe(sentAtRestore - sentAtCut);
      // the history checkers: no window lost or doubled, no illegal rollout move, no device off both models
      const sent = ds.map((d) => ({
        deviceId: d.id,
        bootId: d.bootId,
        acknowledged: Array.from({ length: checked.get(d.id) ?? 0 }, (_, i) => i),
      }));
      expect(await checkTelemetry(direct, sent)).toEqual([]);
      expect(await checkRollout(direct, created.id)).toEqual([]);
      expect(
        modelViolations(
          ds.map((d) => ({ id: d.id, activeVariantId: d.active?.variantId ?? null })),
          [v1.variant, v2.variant],
        ),
      ).toEqual([]);
      console.log(
        `[postgres-outage ${cut}] probes: ${summary}; canary sent ${sentAtRestore - sentAtCut} windows while blind; wave 1 evaluated ${Date.parse(wave1?.evaluatedAt ?? '') - restoredAt} ms after the restore; canary figures ${JSON.stringify(figures)}`,
      );
    },
    150_000,
  );
});
