import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hardwarePreset } from '@edge-fleet/shared';
import pg from 'pg';
import { jsonPost, startHarness, type Harness } from '../test-support/harness.js';
import { EXACT_TOTAL_LIMIT } from './device.repository.js';

interface Page {
  items: { id: string; name: string; enrolledAt: string; reported: { phase: string; lastUpdate: unknown } | null }[];
  total: number;
  totalCountedAt: string;
  page: number | null;
  nextCursor: string | null;
}

let h: Harness;
let db: pg.Client;
beforeAll(async () => {
  h = await startHarness();
  db = new pg.Client({ connectionString: h.dbUrl });
  await db.connect();
});
afterAll(async () => {
  await db.end();
  await h.close();
});

async function list(query: string): Promise<Page> {
  const res = await h.api(`/api/v1/devices?${query}`);
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as Page;
}

/** Devices inserted by SQL (enrollment is tested elsewhere), one millisecond apart, named prefix-000000… */
async function insertDevices(n: number, scenario: string, prefix: string, status = 'offline'): Promise<void> {
  const spec = hardwarePreset('cloud-cpu-node');
  await db.query(
    'INSERT INTO "HardwareProfile" (id, "hardwareClass", accelerator, spec) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING',
    ['list-test', spec.hardwareClass, spec.accelerator, JSON.stringify(spec)],
  );
  await db.query(
    `INSERT INTO "Device" (id, name, scenario, status, "hardwareProfileId", "secretHash", "enrolledAt")
     SELECT gen_random_uuid(), $1 || lpad(g::text, 6, '0'), $2, $3, 'list-test', 'scrypt$x', now() + g * interval '1 millisecond'
       FROM generate_series(0, $4 - 1) AS g`,
    [prefix, scenario, status, n],
  );
}

describe('device list', () => {
  it('pages by cursor through every device once, in enrolment order, and ends with a null cursor', async () => {
    await insertDevices(23, 'robotic_manipulation', 'arm-');
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const p: Page = await list(`scenario=robotic_manipulation&pageSize=5${cursor ? `&after=${cursor}` : ''}`);
      expect(p.total).toBe(23);
      expect(p.page).toBe(cursor ? null : 1);
      seen.push(...p.items.map((d) => d.name));
      cursor = p.nextCursor;
      pages += 1;
    } while (cursor);
    expect(pages).toBe(5);
    expect(seen).toEqual(Array.from({ length: 23 }, (_, i) => `arm-${String(i).padStart(6, '0')}`));
    // the page numbers agree with the cursor
    const third = await list('scenario=robotic_manipulation&pageSize=5&page=3');
    expect(third.items.map((d) => d.name)).toEqual(seen.slice(10, 15));
    expect(third.nextCursor).not.toBeNull();
  });

  it('shows what a device reported, from the report row', async () => {
    const first = (await list('scenario=robotic_manipulation&pageSize=1')).items[0];
    expect(first?.reported).toBeNull();
    await db.query(
      `INSERT INTO "ReportedState" ("deviceId", "bootId", phase, payload, "reportedAt") VALUES ($1, 'b', 'running', $2, now())`,
      [
        first?.id,
        JSON.stringify({ lastUpdate: { assignmentVersion: 3, outcome: 'ok', at: '2026-12-01T00:00:00.000Z' }, big: 'x'.repeat(10_000) }),
      ],
    );
    const again = (await list('scenario=robotic_manipulation&pageSize=1')).items[0];
    expect(again?.reported).toMatchObject({ phase: 'running', lastUpdate: { outcome: 'ok' }, staleMetadata: null });
    expect(JSON.stringify(again)).not.toContain('xxxx');
  });

  it("gives the dashboard's list each device's newest telemetry window, and none to a device that sent none", async () => {
    const [a, b] = (await list('scenario=robotic_manipulation&pageSize=2')).items;
    await db.query(
      `INSERT INTO "TelemetryWindow" ("deviceId", "bootId", seq, "windowStart", "windowEnd", inferences, errors, "latencyP50Ms", "latencyP95Ms", "latencyP99Ms", "latencyMaxMs", "powerW", "powerSource", "powerDetail", "rssMb", "heapUsedMb")
       SELECT $1, gen_random_uuid(), g, now() - (g + 1) * interval '30 s', now() - g * interval '30 s', 100, g, 1, 2, 3 + g, 4 + g, 3.5, 'estimated', 'test', 60, 12
         FROM generate_series(0, 9) AS g`,
      [a?.id],
    );
    const input = encodeURIComponent(JSON.stringify({ scenario: 'robotic_manipulation', pageSize: 2 }));
    const res = await fetch(`${h.cp.url}/trpc/devices.list?input=${input}`, { headers: { authorization: `Bearer ${h.cp.operatorToken}` } });
    const items = ((await res.json()) as { result: { data: { items: { id: string; latest: { p99: number; errors: number } | null }[] } } })
      .result.data.items;
    expect(items.map((d) => d.id)).toEqual([a?.id, b?.id]);
    expect(items[0]?.latest).toMatchObject({ p99: 3, errors: 0 });
    expect(items[1]?.latest).toBeNull();
  });

  it('searches names literally: % and _ are not wildcards', async () => {
    await insertDevices(2, 'data_analysis_agent', 'rack_50%-');
    await insertDevices(2, 'data_analysis_agent', 'rackA50x-');
    const hits = await list(`search=${encodeURIComponent('rack_50%')}`);
    expect(hits.items.map((d) => d.name)).toEqual(['rack_50%-000000', 'rack_50%-000001']);
    expect((await list('search=RACK')).total).toBe(4);
  });

  it('refuses a forged cursor and page with a cursor, naming the parameter', async () => {
    for (const q of [
      'after=bm90LWEtY3Vyc29y',
      `after=${Buffer.from('2026-01-01T00:00:00.000Z|1; DROP TABLE').toString('base64url')}`,
      'after=x&page=2',
    ]) {
      const res = await h.api(`/api/v1/devices?${q}`);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/after/);
    }
    expect(Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM "Device"')).rows[0]?.n)).toBe(27);
  });

  it('counts totals above the exact limit at most once per cache period, and small filters exactly every time', async () => {
    await insertDevices(EXACT_TOTAL_LIMIT + 10, 'autonomous_driving', 'car-');
    const before = await list('scenario=autonomous_driving&pageSize=1');
    expect(before.total).toBe(EXACT_TOTAL_LIMIT + 10);
    await insertDevices(3, 'autonomous_driving', 'late-car-', 'online');
    // within the cache period the large total is the one already counted, and says when
    const cached = await list('scenario=autonomous_driving&pageSize=1');
    expect(cached.total).toBe(EXACT_TOTAL_LIMIT + 10);
    expect(cached.totalCountedAt).toBe(before.totalCountedAt);
    // a narrower filter is small, so exact at once
    expect((await list('scenario=autonomous_driving&status=online')).total).toBe(3);
    // and an enrolment through the API shows in a small filter's total on the next request
    const t = (await (await jsonPost(h, '/api/v1/enrollment-tokens', { scenario: 'autonomous_driving' })).json()) as { token: string };
    expect(
      (
        await jsonPost(
          h,
          '/api/v1/devices/enroll',
          { token: t.token, name: 'fresh', hardwareProfile: hardwarePreset('cloud-cpu-node') },
          false,
        )
      ).status,
    ).toBe(201);
    expect((await list('scenario=autonomous_driving&status=pending')).total).toBe(1);
    await new Promise((r) => setTimeout(r, 5_100));
    const later = await list('scenario=autonomous_driving&pageSize=1');
    expect(later.total).toBe(EXACT_TOTAL_LIMIT + 14);
    expect(Date.parse(later.totalCountedAt)).toBeGreaterThan(Date.parse(before.totalCountedAt));
  });
});
