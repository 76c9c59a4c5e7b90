import { randomUUID } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hardwarePreset, topics } from '@edge-fleet/shared';
import { MEMORY_HEADROOM_BASIS } from '@edge-fleet/shared/api';
import { connectDevice, enrollDevice, telemetryWindow } from '../test-support/device-client.js';
import { startHarness, waitFor, type Harness } from '../test-support/harness.js';
import { AlertEvaluator } from './alert-evaluator.service.js';

/**
 * The memory-headroom rule on the real services: enrolled devices publish windows with their
 * agent's RSS over the embedded broker; a pass compares the profile's DRAM minus that RSS with the
 * rule's floor.
 */
const SCENARIO = 'robotic_manipulation';
const DRAM_MB = hardwarePreset('robot-npu-arm').dramMb;
let h: Harness;
let db: pg.Client;
let evaluator: AlertEvaluator;
const clients: MqttClient[] = [];

interface AlertRow {
  id: string;
  subject: string;
  state: string;
  ruleName: string;
  value: number | null;
  threshold: number | null;
}
const json = (method: string, p: string, body: unknown) =>
  h.api(p, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
const alerts = async () => ((await (await h.api('/api/v1/alerts?state=all')).json()) as { items: AlertRow[] }).items;

/** A device of the scenario whose agent reports `rssMb` in three windows of the last 15 s. */
async function device(rssMb: number): Promise<string> {
  const e = await enrollDevice(h, SCENARIO, 'robot-npu-arm');
  const c = await connectDevice(h, e);
  clients.push(c);
  const boot = randomUUID();
  for (const seq of [0, 1, 2]) {
    const w = telemetryWindow(e.deviceId, boot, seq, { memory: { rssMb: seq === 1 ? rssMb : rssMb - 50, heapUsedMb: 10 } });
    await c.publishAsync(topics.telemetry(e.deviceId), JSON.stringify(w), { qos: 1 });
  }
  return e.deviceId;
}

let tight: string;
let roomy: string;

beforeAll(async () => {
  h = await startHarness({ ALERT_EVAL_INTERVAL_MS: '0' });
  db = new pg.Client({ connectionString: h.dbUrl });
  await db.connect();
  evaluator = h.cp.app.get(AlertEvaluator);
  tight = await device(DRAM_MB - 100); // 100 MB left at its largest RSS
  roomy = await device(200);
  await waitFor(
    async () => (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM "TelemetryWindow"')).rows[0]?.n === 6,
    20_000,
    'all 6 windows stored',
  );
}, 120_000);

afterAll(async () => {
  for (const c of clients) await c.endAsync();
  await db?.end();
  await h?.close();
});

describe('memory headroom alerts', () => {
  it('fires below its floor with the headroom as the profile DRAM minus the largest RSS, labelled with that basis', async () => {
    const res = await json('POST', '/api/v1/alert-rules', {
      name: 'robot_memory_headroom',
      metric: 'memory_headroom_mb',
      scenario: SCENARIO,
      threshold: 256,
      forSeconds: 0,
      lookbackSeconds: 120,
    });
    expect(res.status, await res.clone().text()).toBe(201);
    await evaluator.evaluate(new Date());
    const mine = (await alerts()).filter((a) => a.ruleName === 'robot_memory_headroom');
    expect(mine).toEqual([expect.objectContaining({ subject: tight, state: 'firing', value: 100, threshold: 256 })]);
    expect(mine.some((a) => a.subject === roomy)).toBe(false);
    const detail = (await (await h.api(`/api/v1/alerts/${mine[0]?.id ?? ''}`)).json()) as {
      transitions: { to: string; figures: Record<string, unknown> }[];
    };
    expect(detail.transitions.at(-1)).toMatchObject({
      to: 'firing',
      figures: { metric: 'memory_headroom_mb', basis: MEMORY_HEADROOM_BASIS },
    });
  });

  it('refuses a headroom rule without a floor, or with one at or below 0 MB, with a 400 naming the threshold', async () => {
    const base = { name: 'headroom_bad', metric: 'memory_headroom_mb', forSeconds: 0 };
    for (const [body, message] of [
      [{ ...base }, /threshold: memory_headroom_mb needs a threshold/],
      [{ ...base, threshold: 0 }, /threshold: a memory headroom floor must be above 0/],
    ] as const) {
      const r = await json('POST', '/api/v1/alert-rules', body);
      expect(r.status).toBe(400);
      expect(((await r.json()) as { error: { message: string } }).error.message).toMatch(message);
    }
  });
});
