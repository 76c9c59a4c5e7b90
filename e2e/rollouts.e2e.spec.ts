import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import pg from 'pg';
import { waitFor } from '@edge-fleet/test-utils';
import {
  callApi,
  type E2eControlPlane,
  launchBrowser,
  signIn,
  polling,
  ROOT,
  startDashboard,
  startE2eControlPlane,
  startProcess,
  type Proc,
} from './processes.js';

/**
 * Staged rollouts with real agents (onnxruntime-node) on the control plane's broker: a healthy
 * model goes through every wave; a slow one stops at the canary and the canary goes back; a model
 * whose outputs are NaN fails its smoke test on the device and never serves.
 */
const SCENARIO = 'financial_trading';
const procs: Proc[] = [];
const agents: Proc[] = [];
let run: E2eControlPlane | undefined;
let dataDir = '';
let api = '';
let token = '';
let cp: Proc;
let browser: Browser | null = null;
let slowRolloutId = '';

interface Generated {
  bytes: Uint8Array;
  inputs: { name: string; min?: number; max?: number }[];
}
interface OnnxBuilder {
  buildMlpClassifier: (o: { seed: number; inputSize?: number; hidden?: number; batch?: number }) => Generated;
  buildConvNet: (o: { seed: number }) => Generated;
}
interface Version {
  id: string;
  variants: { id: string; precision: string }[];
}
interface Device {
  id: string;
  name: string;
  status: string;
  reported: { phase: string; activeVariantId: string | null } | null;
}
interface Gate {
  metric: string;
  passed: boolean;
  figure: number | null;
  failingDevices: { deviceId: string; why: string }[];
}
interface Rollout {
  id: string;
  status: string;
  reason: string;
  waves: { status: string; size: number; gate: { passed: boolean; gates: Gate[] } | null }[];
  deviceStates: { deviceId: string; wave: number; state: string; reason: string }[];
}

const call = <T>(method: string, p: string, body?: unknown): Promise<T> => callApi<T>(api, token, method, p, body);

async function upload(name: string, version: string, m: Generated): Promise<{ id: string; fp32: string }> {
  const form = new FormData();
  form.set('file', new Blob([Buffer.from(m.bytes)]), `${name}.onnx`);
  form.set('name', name);
  form.set('version', version);
  form.set('inputs', JSON.stringify(m.inputs));
  const v = await call<Version>('POST', '/api/v1/models', form);
  return { id: v.id, fp32: v.variants.find((x) => x.precision === 'fp32')?.id ?? '' };
}

const devices = async () => (await call<{ items: Device[] }>('GET', `/api/v1/devices?scenario=${SCENARIO}`)).items;
let lastSeen: unknown = null;
const allRunning = (variantId: string) =>
  waitFor(
    async () => {
      const ds = await devices();
      lastSeen = ds.map((d) => ({ name: d.name, reported: d.reported }));
      return ds.length === 3 && ds.every((d) => d.reported?.phase === 'running' && d.reported.activeVariantId === variantId) ? ds : null;
    },
    60_000,
    `every agent running ${variantId}`,
    polling(),
  ).catch((e: unknown) => {
    const logs = agents.map((a, i) => `--- agent ${i} ---\n${a.output().slice(-3_000)}`).join('\n');
    throw new Error(`${e instanceof Error ? e.message : String(e)}; devices: ${JSON.stringify(lastSeen)}\n${logs}`);
  });
const finished = (id: string) =>
  waitFor(
    async () => {
      const r = await call<Rollout>('GET', `/api/v1/rollouts/${id}`);
      return ['completed', 'rolled_back', 'paused', 'aborted'].includes(r.status) ? r : null;
    },
    200_000,
    `rollout ${id} to finish`,
    polling(cp),
  );

/** A paused rollout keeps its devices: abort it so that one failed test does not fail the next ones too. */
const abortIfHeld = async (r: Rollout) => {
  if (r.status === 'paused') await call('POST', `/api/v1/rollouts/${r.id}/abort`);
};

let builder: OnnxBuilder;
let v1: { id: string; fp32: string };

beforeAll(async () => {
  builder = (await import(path.join(ROOT, 'packages/onnx-builder/dist/index.js'))) as OnnxBuilder;
  // a 50 Hz probe: the latency gates judge a p99 only with 1,000 runs a device (issue 17)
  run = await startE2eControlPlane('ef-e2e-ro', {
    VARIANT_BUILD: 'off',
    QUEUE_PREFIX: `ef-e2e-ro-${Date.now().toString(36)}`,
    DEVICE_RATE_HZ: '50',
  });
  ({ dataDir, api, token, proc: cp } = run);
  // a tier target between the small model (well under a millisecond) and the slow one (tens of milliseconds)
  const policy =
    (await call<{ items: Record<string, unknown>[] }>('GET', '/api/v1/policies')).items.find((p) => p.scenario === SCENARIO) ?? {};
  const { scenario: _s, model: _m, ...settings } = policy;
  await call('PUT', `/api/v1/policies/${SCENARIO}`, { ...settings, latencyTargetMs: 4 });

  v1 = await upload('ticker', '1', builder.buildMlpClassifier({ seed: 1 }));
  await call('PUT', `/api/v1/scenarios/${SCENARIO}/model`, { modelVersionId: v1.id });
  const { token: enroll } = await call<{ token: string }>('POST', '/api/v1/enrollment-tokens', { scenario: SCENARIO, maxUses: 3 });
  for (let i = 0; i < 3; i++) {
    const a = startProcess(
      [
        'apps/device-agent/dist/cli.js',
        '--url',
        api,
        '--token',
        enroll,
        '--profile',
        'edge-npu-trading',
        '--name',
        `ro-${i}`,
        '--data-dir',
        path.join(dataDir, `agent-${i}`),
      ],
      {},
    );
    agents.push(a);
    procs.push(a);
  }
  await allRunning(v1.fp32);
}, 240_000);

afterAll(async () => {
  await browser?.close();
  for (const p of procs.reverse()) await p.stop();
  await run?.stop();
});

describe('staged rollouts on real agents', () => {
  let v2: { id: string; fp32: string };

  it('takes a healthy model through the canary and the rest of the fleet', async () => {
    v2 = await upload('ticker', '2', builder.buildMlpClassifier({ seed: 2 }));
    const r = await call<Rollout>('POST', '/api/v1/rollouts', {
      modelVersionId: v2.id,
      target: { scenario: SCENARIO },
      // a p99 needs 1,000 runs a device by default: at the 50 Hz probe, 22 s of soak
      // on CI's loaded machine an agent's 50 Hz probe runs slower: the gates may wait up to a minute for the 1,000 runs
      waves: [
        { count: 1, soakSeconds: 22, evidenceWaitSeconds: 60 },
        { percent: 100, soakSeconds: 22, evidenceWaitSeconds: 60 },
      ],
      // the default gates, but a baseline regression only beyond 5×: this model runs in ~0.4 ms, and
      // on CI's loaded 2-core machine one canary measured 1.09 ms against a 0.39 ms baseline (the gate
      // itself is tested in packages/shared and by the next test's failing canary)
      gates: [
        { metric: 'latency' },
        { metric: 'error_rate' },
        { metric: 'power' },
        { metric: 'update_failures' },
        { metric: 'silence' },
        { metric: 'baseline_regression', max: 4 },
      ],
    });
    const done = await finished(r.id);
    expect(done.status, done.reason).toBe('completed');
    expect(done.waves.map((w) => [w.size, w.status])).toEqual([
      [1, 'passed'],
      [2, 'passed'],
    ]);
    const latency = done.waves[0]?.gate?.gates.find((g) => g.metric === 'latency');
    expect(latency?.figure).toBeGreaterThan(0);
    expect(latency?.figure).toBeLessThan(4);
    await allRunning(v2.fp32);
  }, 300_000);

  it('stops a model over the latency target at the canary and sends the canary back', async () => {
    // 1,024 rows per run through 256→512→10 (~140 M multiply-adds): over the 4 ms target on this machine under load
    const slow = await upload('ticker', '3-slow', builder.buildMlpClassifier({ seed: 3, inputSize: 256, hidden: 512, batch: 1024 }));
    const r = await call<Rollout>('POST', '/api/v1/rollouts', {
      modelVersionId: slow.id,
      target: { scenario: SCENARIO },
      // the slow model runs below 50 Hz under load (749 runs in 16 s on one CI run): time for the 1,000 a p99 needs
      waves: [
        { count: 1, soakSeconds: 8, evidenceWaitSeconds: 60 },
        { percent: 100, soakSeconds: 5 },
      ],
    });
    slowRolloutId = r.id;
    const done = await finished(r.id);
    await abortIfHeld(done);
    expect(done.status, done.reason).toBe('rolled_back');
    expect(done.waves.map((w) => w.status)).toEqual(['rolled_back', 'pending']);
    // which check stops it depends on the machine's load: the prediction from measured latency before any download,
    // the canary's own smoke runs (the tier target travels with the desired state), its watchdog after activation, or
    // the control plane's latency gates — each must stop the wave
    const gates = done.waves[0]?.gate?.gates ?? [];
    const failed = gates.filter((g) => !g.passed).map((g) => g.metric);
    expect(failed.length, JSON.stringify(gates)).toBeGreaterThan(0);
    for (const g of gates.filter((x) => !x.passed)) {
      if (g.metric === 'update_failures')
        expect(g.failingDevices[0]?.why).toMatch(/^(smoke_failed: smoke latency median|watchdog_failed: |refused before download: )/);
      else expect(['latency', 'baseline_regression']).toContain(g.metric);
    }
    // sent back, or (when its predicted latency already breaks the target) refused before download and never changed
    const canary = done.deviceStates.find((d) => d.wave === 0);
    expect(['rolled_back', 'failed']).toContain(canary?.state);
    // every agent ends on v2: the canary by the control plane's rollback (or its own watchdog), the rest never left it
    await allRunning(v2.fp32);
  }, 300_000);

  it('refuses on the device a model whose outputs are NaN: it fails its smoke test and never serves', async () => {
    const conv = builder.buildConvNet({ seed: 4 });
    // inputs this large overflow the convolutions: every output is NaN
    const nan = await upload('ticker', '4-nan', { ...conv, inputs: conv.inputs.map((i) => ({ ...i, min: 3e38, max: 3.4e38 })) });
    // overflowing arithmetic is slow too: a target it meets, so that the device's smoke test is what stops it
    const policy =
      (await call<{ items: Record<string, unknown>[] }>('GET', '/api/v1/policies')).items.find((p) => p.scenario === SCENARIO) ?? {};
    const { scenario: _s, model: _m, ...settings } = policy;
    await call('PUT', `/api/v1/policies/${SCENARIO}`, { ...settings, latencyTargetMs: 1_000 });
    const r = await call<Rollout>('POST', '/api/v1/rollouts', {
      modelVersionId: nan.id,
      target: { scenario: SCENARIO },
      waves: [
        { count: 1, soakSeconds: 6 },
        { percent: 100, soakSeconds: 5 },
      ],
    });
    const done = await finished(r.id);
    await abortIfHeld(done);
    expect(done.status, done.reason).toBe('rolled_back');
    const updates = done.waves[0]?.gate?.gates.find((g) => g.metric === 'update_failures');
    expect(updates?.passed).toBe(false);
    expect(updates?.failingDevices[0]?.why).toContain('smoke_failed');
    // no telemetry window ever carried the NaN model: it never served
    const c = new pg.Client({ connectionString: run?.dbUrl });
    await c.connect();
    const served = await c.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM "TelemetryWindow" WHERE "modelVersionId" = $1 AND inferences > 0`,
      [nan.id],
    );
    await c.end();
    expect(served.rows[0]?.n).toBe(0);
    await allRunning(v2.fp32);
  });

  it('shows the stopped rollout in the dashboard: its reason, the failed gate and the devices', async () => {
    const { proc: dash, web } = await startDashboard(api);
    procs.push(dash);
    browser = await launchBrowser();
    const page = await browser.newPage();
    await signIn(page, web, token);
    await page.goto(`${web}/rollouts`);
    await page.waitForSelector('[data-testid="rollout-row"]');
    expect(await page.locator('[data-testid="rollout-row"]').count()).toBe(3);
    await page.goto(`${web}/rollouts/${slowRolloutId}`);
    await page.waitForSelector('[data-testid="gate-table"]');
    expect(await page.textContent('[data-testid="rollout-reason"]')).toContain('wave 1 failed its gates');
    expect(await page.locator('[data-testid="rollout-device-row"]').count()).toBe(3);
    expect(await page.locator('[data-testid="failing-devices"]').count()).toBeGreaterThan(0);
  });
});
