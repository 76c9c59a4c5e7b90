import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LatencyHistogram, mulberry32, type CreateRolloutInput, type GateResult, type SparseHistogram } from '@edge-fleet/shared';
import pg from 'pg';
import { jsonPost, setScenarioModel, startHarness, uploadMlp, waitFor, type Harness } from '../test-support/harness.js';
import { rolloutView, untilRollout } from '../test-support/rollout-client.js';
import { VirtualDevice, type VirtualDeviceBehaviour } from '../test-support/virtual-device.js';
import type { RolloutView } from './rollouts.service.js';

/**
 * The statistical gates through the real rollout path: devices that send latency histograms,
 * ingest, the gate evaluator's queries, the step engine's wait for evidence (issue 17, row 29).
 */
let h: Harness;
let db: pg.Client;
const devices: VirtualDevice[] = [];
let v1: { id: string; variant: string };
let v2: { id: string; variant: string };

beforeAll(async () => {
  h = await startHarness({ ROLLOUT_SWEEP_MS: '500' });
  db = new pg.Client({ connectionString: h.dbUrl });
  await db.connect();
  v1 = await uploadMlp(h, 'scorer', '1', 1);
  v2 = await uploadMlp(h, 'scorer', '2', 2);
  await setScenarioModel(h, 'data_analysis_agent', v1.id);
}, 60_000);

afterAll(async () => {
  await Promise.all(devices.map((d) => d.stop()));
  await db.end();
  await h.close();
});

/**
 * Windows of `perWindow` log-normal inferences (median 20 ms, sigma 0.3: p99 ≈ 40 ms, far under the
 * tier's 500 ms), each device with its own seeded speed factor, v2 `slowdown` times v1.
 */
function histograms(seed: number, slowdown: number, perWindow: number): VirtualDeviceBehaviour['histogram'] {
  const rand = mulberry32(seed);
  const normal = (): number => Math.sqrt(-2 * Math.log(Math.max(rand(), 1e-12))) * Math.cos(2 * Math.PI * rand());
  const unit = Math.exp(0.1 * normal());
  return (variantId: string): { inferences: number; histogram: SparseHistogram } => {
    const median = 20 * unit * (variantId === v2.variant ? slowdown : 1);
    const hist = new LatencyHistogram();
    for (let i = 0; i < perWindow; i++) hist.record(median * Math.exp(0.3 * normal()));
    return { inferences: perWindow, histogram: hist.toSparse() };
  };
}

async function fleet(n: number, slowdown: number, perWindow: number, seed: number): Promise<VirtualDevice[]> {
  const out = await Promise.all(
    Array.from({ length: n }, (_, i) =>
      VirtualDevice.start(h, 'data_analysis_agent', 'cloud-cpu-node', { histogram: histograms(seed + i, slowdown, perWindow) }),
    ),
  );
  devices.push(...out);
  await waitFor(() => Promise.resolve(out.every((d) => d.active?.variantId === v1.variant)), 15_000, 'devices running v1');
  return out;
}

const create = (body: Pick<CreateRolloutInput, 'target' | 'waves'>) => jsonPost(h, '/api/v1/rollouts', { modelVersionId: v2.id, ...body });
const view = (id: string) => rolloutView(h, id);
const until = (id: string, statuses: string[], ms = 45_000) => untilRollout(h, id, statuses, ms);
const gateOf = (g: GateResult | null | undefined, metric: string) => g?.gates.find((x) => x.metric === metric);

describe('statistical rollout gates', () => {
  it('row 29: stops a model 60 % slower at p99 at the canary, with effect, interval, p-value and counts per hardware class', async () => {
    const ds = await fleet(8, 1.6, 400, 100);
    const res = await create({
      target: { deviceIds: ds.map((d) => d.id) },
      waves: [
        { count: 3, soakSeconds: 2 },
        { percent: 100, soakSeconds: 1 },
      ],
    });
    expect(res.status).toBe(201);
    const done = await until(((await res.json()) as RolloutView).id, ['completed', 'paused', 'rolled_back']);
    expect(done.status, done.reason).toBe('rolled_back');
    const g = gateOf(done.waves[0]?.gate, 'baseline_regression');
    expect(g?.outcome).toBe('failed');
    const c = g?.classes?.[0];
    expect(c).toMatchObject({
      hardwareClass: 'dc-cpu-100t',
      percentile: 'p99',
      verdict: 'failed',
      canary: { devices: 3 },
      baseline: { devices: 5 },
    });
    expect(c?.effect).toBeGreaterThan(0.3);
    expect(c?.interval?.[0]).toBeGreaterThan(0);
    expect(c?.pValue).toBeLessThan(0.01);
    expect(c?.canary.inferences).toBeGreaterThanOrEqual(1_000);
    expect(c?.canary.cdf.length).toBeGreaterThan(5);
    // the latency target (500 ms) is far away: only the comparison with the old model stops it
    expect(gateOf(done.waves[0]?.gate, 'latency')?.outcome).toBe('passed');
  }, 90_000);

  it('row 29: passes a re-versioned model with the same latency distribution', async () => {
    const ds = await fleet(8, 1, 400, 200);
    const res = await create({
      target: { deviceIds: ds.map((d) => d.id) },
      waves: [
        { count: 3, soakSeconds: 2 },
        { percent: 100, soakSeconds: 1 },
      ],
    });
    const done = await until(((await res.json()) as RolloutView).id, ['completed', 'paused', 'rolled_back']);
    expect(done.status, done.reason).toBe('completed');
    const c = gateOf(done.waves[0]?.gate, 'baseline_regression')?.classes?.[0];
    expect(c?.verdict).toBe('passed');
    // the figures behind the verdict are there; the point estimate itself is not bounded here: with 3
    // canaries against 5 baseline devices whose speeds differ by ~10 % each, a same-distribution effect of
    // ±20 % is ordinary (CI saw +20.6 %), which is exactly why the gate judges the interval, not the point
    expect(c?.effect).toEqual(expect.any(Number));
    expect(c?.pValue).toEqual(expect.any(Number));
    const [lo, hi] = c?.interval ?? [Number.NaN, Number.NaN];
    expect(lo).toBeLessThanOrEqual(hi);
  }, 90_000);

  it('row 29: with too few inferences the wave waits past its soak, then reports insufficient evidence and pauses, never passes', async () => {
    const ds = await fleet(4, 1, 5, 300);
    const res = await create({
      target: { deviceIds: ds.map((d) => d.id) },
      waves: [
        { count: 2, soakSeconds: 1, evidenceWaitSeconds: 3 },
        { percent: 100, soakSeconds: 1 },
      ],
    });
    const id = ((await res.json()) as RolloutView).id;
    // while it waits the wave keeps soaking, with a stored verdict that says what it waits for
    const waiting = await waitFor(
      async () => {
        const v = await view(id);
        return v.waves[0]?.gate?.outcome === 'insufficient_evidence' && v.status === 'running' ? v : null;
      },
      20_000,
      'a waiting verdict',
    );
    expect(waiting.waves[0]?.status).toBe('soaking');
    const done = await until(id, ['completed', 'paused', 'rolled_back']);
    expect(done.status).toBe('paused');
    expect(done.reason).toContain('insufficient evidence');
    expect(done.waves[0]?.status).toBe('insufficient_evidence');
    const latency = gateOf(done.waves[0]?.gate, 'latency');
    expect(latency).toMatchObject({ outcome: 'insufficient_evidence', judged: 0, failing: 0 });
    expect(latency?.waitingDevices?.[0]?.why).toMatch(/^\d+ inference\(s\) in \d+ window\(s\); needs 1000 in 3$/);
    expect(ds.filter((d) => d.active?.variantId === v2.variant)).toHaveLength(2);
    const audit = await db.query<{ action: string }>(`SELECT action FROM "AuditEvent" WHERE "targetId" = $1 ORDER BY id`, [id]);
    expect(audit.rows.map((r) => r.action)).toContain('rollout.wave_insufficient_evidence');
    expect(audit.rows.map((r) => r.action)).not.toContain('rollout.wave_passed');
  }, 90_000);
});
