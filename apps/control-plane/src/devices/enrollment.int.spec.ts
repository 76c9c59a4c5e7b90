import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hardwarePreset, type EnrollResponse } from '@edge-fleet/shared';
import { randomBytes, scryptSync } from 'node:crypto';
import pg from 'pg';
import { CHAIN_LOCK } from '../infra/audit.repository.js';
import { CONNECTION_WAIT_MS, PRISMA_CONNECTIONS, TRANSACTION_DEFAULTS, type Db } from '../infra/prisma.js';
import { PRISMA } from '../infra/tokens.js';
import { connectDevice, enrollDevice } from '../test-support/device-client.js';
import { jsonPost, startHarness, waitFor, type Harness } from '../test-support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

async function token(body: Record<string, unknown> = { scenario: 'robotic_manipulation' }): Promise<string> {
  const res = await jsonPost(h, '/api/v1/enrollment-tokens', body);
  expect(res.status).toBe(201);
  return ((await res.json()) as { token: string }).token;
}

describe('enrollment', () => {
  it('turns a token into a device with its hardware profile, and stores only a hash of the secret', async () => {
    const t = await token({ scenario: 'robotic_manipulation', labels: { site: 'lab-1' } });
    const res = await jsonPost(
      h,
      '/api/v1/devices/enroll',
      { token: t, name: 'arm-1', hardwareProfile: hardwarePreset('robot-npu-arm') },
      false,
    );
    expect(res.status).toBe(201);
    const e = (await res.json()) as EnrollResponse;
    expect(e.scenario).toBe('robotic_manipulation');
    expect(e.mqtt.username).toBe(e.deviceId);

    const dev = (await (await h.api(`/api/v1/devices/${e.deviceId}`)).json()) as {
      name: string;
      hardwareClass: string;
      labels: unknown;
      status: string;
    };
    expect(dev).toMatchObject({ name: 'arm-1', hardwareClass: 'edge-npu-10t', labels: { site: 'lab-1' }, status: 'pending' });

    const c = new pg.Client({ connectionString: h.dbUrl });
    await c.connect();
    const row = await c.query<{ secretHash: string }>('SELECT "secretHash" FROM "Device" WHERE id = $1', [e.deviceId]);
    const audit = await c.query('SELECT 1 FROM "AuditEvent" WHERE action = $1 AND "targetId" = $2', ['device.enroll', e.deviceId]);
    await c.end();
    expect(row.rows[0]?.secretHash).toMatch(/^sha256\$[\w-]{22}\$[\w-]{43}$/);
    expect(row.rows[0]?.secretHash).not.toContain(e.deviceSecret);
    expect(audit.rowCount).toBe(1);
  });

  it('accepts a device still on the older scrypt hash, then replaces that hash with the fast one; a wrong secret changes nothing', async () => {
    const e = await enrollDevice(h, 'robotic_manipulation');
    const salt = randomBytes(16);
    const key = scryptSync(e.deviceSecret, salt, 32, { N: 16_384, r: 8, p: 1 });
    const legacy = `scrypt$16384$8$1$${salt.toString('base64url')}$${key.toString('base64url')}`;
    const c = new pg.Client({ connectionString: h.dbUrl });
    await c.connect();
    const stored = async () =>
      (await c.query<{ secretHash: string }>('SELECT "secretHash" FROM "Device" WHERE id = $1', [e.deviceId])).rows[0]?.secretHash;
    try {
      await c.query('UPDATE "Device" SET "secretHash" = $2 WHERE id = $1', [e.deviceId, legacy]);
      await expect(connectDevice(h, e, { password: 'y'.repeat(43) })).rejects.toThrow(/Not authorized|Bad username or password/);
      expect(await stored()).toBe(legacy);
      const client = await connectDevice(h, e);
      await client.endAsync();
      expect(await stored()).toMatch(/^sha256\$/);
      // and the upgraded hash admits the same secret
      const again = await connectDevice(h, e);
      await again.endAsync();
    } finally {
      await c.end();
    }
  });

  it('enrolls devices with the same new hardware at the same moment (an upsert on the profile once raced to a 500)', async () => {
    const profile = { ...hardwarePreset('edge-gpu-kiosk'), name: 'Kiosk, new board revision' };
    const tokens = await Promise.all(Array.from({ length: 8 }, () => token()));
    const results = await Promise.all(
      tokens.map((t) => jsonPost(h, '/api/v1/devices/enroll', { token: t, hardwareProfile: profile }, false)),
    );
    expect(results.map((r) => r.status)).toEqual(Array.from({ length: 8 }, () => 201));
  });

  it('refuses a reused one-time token and leaves the fleet unchanged', async () => {
    const t = await token();
    const profile = hardwarePreset('edge-gpu-kiosk');
    expect((await jsonPost(h, '/api/v1/devices/enroll', { token: t, hardwareProfile: profile }, false)).status).toBe(201);
    const before = ((await (await h.api('/api/v1/devices')).json()) as { total: number }).total;
    const again = await jsonPost(h, '/api/v1/devices/enroll', { token: t, hardwareProfile: profile }, false);
    expect(again.status).toBe(401);
    expect(((await again.json()) as { error: { message: string } }).error.message).toMatch(/already been used/);
    expect(((await (await h.api('/api/v1/devices')).json()) as { total: number }).total).toBe(before);
  });

  it('refuses an unknown token and a bad hardware profile with messages that name the problem', async () => {
    const bad = await jsonPost(
      h,
      '/api/v1/devices/enroll',
      { token: 'x'.repeat(40), hardwareProfile: hardwarePreset('edge-gpu-kiosk') },
      false,
    );
    expect(bad.status).toBe(401);
    expect(((await bad.json()) as { error: { message: string } }).error.message).toMatch(/not valid/);
    const t = await token();
    const wrong = await jsonPost(
      h,
      '/api/v1/devices/enroll',
      { token: t, hardwareProfile: { ...hardwarePreset('edge-gpu-kiosk'), tops: -1 } },
      false,
    );
    expect(wrong.status).toBe(400);
    expect(((await wrong.json()) as { error: { message: string } }).error.message).toMatch(/hardwareProfile\.tops/);
    // the token was not consumed by the rejected request
    expect(
      (await jsonPost(h, '/api/v1/devices/enroll', { token: t, hardwareProfile: hardwarePreset('edge-gpu-kiosk') }, false)).status,
    ).toBe(201);
  });

  it('requires an operator token on operator routes, and pages and filters the device list', async () => {
    expect((await fetch(`${h.cp.url}/api/v1/devices`)).status).toBe(401);
    expect((await fetch(`${h.cp.url}/api/v1/devices`, { headers: { authorization: 'Bearer not-a-real-token-000000' } })).status).toBe(401);
    const t = await token({ scenario: 'data_analysis_agent', maxUses: 3 });
    for (let i = 0; i < 3; i++) {
      expect(
        (
          await jsonPost(
            h,
            '/api/v1/devices/enroll',
            { token: t, name: `cloud-${i}`, hardwareProfile: hardwarePreset('cloud-cpu-node') },
            false,
          )
        ).status,
      ).toBe(201);
    }
    const page = (await (await h.api('/api/v1/devices?scenario=data_analysis_agent&pageSize=2&page=2')).json()) as {
      items: { name: string }[];
      total: number;
    };
    expect(page.total).toBe(3);
    expect(page.items.map((d) => d.name)).toEqual(['cloud-2']);
    const badQuery = await h.api('/api/v1/devices?scenario=mining');
    expect(badQuery.status).toBe(400);
    expect(((await badQuery.json()) as { error: { message: string } }).error.message).toMatch(/scenario/);
  });
});

/** Prisma's own defaults for an interactive transaction, which a loaded machine outran: 2 s to get a connection, 5 s to run. */
const PRISMA_MAX_WAIT_MS = 2_000;
const PRISMA_TIMEOUT_MS = 5_000;

describe('enrollment on a busy control plane', () => {
  const enrollOne = async (): Promise<Response> =>
    jsonPost(h, '/api/v1/devices/enroll', { token: await token(), hardwareProfile: hardwarePreset('edge-gpu-kiosk') }, false);

  async function enrolled(res: Response): Promise<boolean> {
    const c = new pg.Client({ connectionString: h.dbUrl });
    await c.connect();
    try {
      const { deviceId } = (await res.json()) as EnrollResponse;
      return (await c.query('SELECT 1 FROM "Device" WHERE id = $1', [deviceId])).rowCount === 1;
    } finally {
      await c.end();
    }
  }

  it('a device enrolling while every database connection is busy waits for one (within the pool bound) instead of getting 500', async () => {
    const holdMs = PRISMA_MAX_WAIT_MS + 1_500;
    expect(holdMs).toBeLessThan(CONNECTION_WAIT_MS);
    const t = await token();
    const db = h.cp.app.get<Db>(PRISMA);
    // a burst of other work on every connection of the control plane's pool
    const busy = Promise.all(Array.from({ length: PRISMA_CONNECTIONS }, () => db.$executeRawUnsafe(`SELECT pg_sleep(${holdMs / 1_000})`)));
    const watch = new pg.Client({ connectionString: h.dbUrl });
    await watch.connect();
    try {
      await waitFor(
        async () =>
          (
            await watch.query<{ n: number }>(
              "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'SELECT pg_sleep%'",
            )
          ).rows[0]?.n === PRISMA_CONNECTIONS,
        holdMs,
        'every pool connection busy',
      );
    } finally {
      await watch.end();
    }
    const res = await jsonPost(h, '/api/v1/devices/enroll', { token: t, hardwareProfile: hardwarePreset('edge-gpu-kiosk') }, false);
    await busy;
    expect(res.status, await res.clone().text()).toBe(201);
    expect(await enrolled(res)).toBe(true);
  });

  it('a device enrolling while another change holds the audit chain longer than 5 s is enrolled once the chain is free, not refused with 500', async () => {
    const holdMs = PRISMA_TIMEOUT_MS + 1_000;
    expect(holdMs).toBeLessThan(TRANSACTION_DEFAULTS.timeout);
    const t = await token();
    // another audited change (a large rollout, say) holds the chain's lock until it commits
    const other = new pg.Client({ connectionString: h.dbUrl });
    await other.connect();
    try {
      await other.query('BEGIN');
      await other.query('SELECT pg_advisory_xact_lock($1)', [CHAIN_LOCK]);
      const pending = jsonPost(h, '/api/v1/devices/enroll', { token: t, hardwareProfile: hardwarePreset('edge-gpu-kiosk') }, false);
      await new Promise((resolve) => setTimeout(resolve, holdMs));
      await other.query('COMMIT');
      const res = await pending;
      expect(res.status, await res.clone().text()).toBe(201);
      expect(await enrolled(res)).toBe(true);
    } finally {
      await other.end();
    }
    expect((await enrollOne()).status).toBe(201);
  });
});
