import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { connect } from 'node:net';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, waitFor } from '@edge-fleet/test-utils';
import { polling, startProcess, type Proc } from './processes.js';

const dirs: string[] = [];
const procs: Proc[] = [];
afterAll(async () => {
  for (const p of procs) await p.stop();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('zero-setup start (M24)', () => {
  it('starts an embedded Postgres and a redis-server when nothing answers, migrates, and stops them on SIGTERM', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'ef-zero-'));
    dirs.push(dataDir);
    await chmod(dataDir, 0o755); // as root, the embedded Postgres runs as the postgres user
    const port = await freePort();
    const redisPort = await freePort();
    const pgPort = await freePort();
    const cp = startProcess(['apps/control-plane/dist/main.js'], {
      PORT: String(port),
      MQTT_EMBEDDED_PORT: String(await freePort()),
      DATA_DIR: dataDir,
      DATABASE_URL: `postgresql://postgres@127.0.0.1:${await freePort()}/edge_fleet`,
      EMBEDDED_POSTGRES_PORT: String(pgPort),
      REDIS_URL: `redis://127.0.0.1:${redisPort}`,
    });
    procs.push(cp);
    const ready = await waitFor(
      async () => {
        const r = await fetch(`http://127.0.0.1:${port}/readyz`);
        return r.ok ? ((await r.json()) as { checks: Record<string, boolean> }) : null;
      },
      180_000,
      'ready on embedded services',
      polling(cp),
    );
    expect(ready.checks).toEqual({ postgres: true, redis: true, mqtt: true, ingest: true });
    expect(cp.output()).toMatch(/starting an embedded Postgres/);
    expect(cp.output()).toMatch(/started redis-server/);
    const token = (await readFile(path.join(dataDir, 'operator-token'), 'utf8')).trim();
    const policies = await fetch(`http://127.0.0.1:${port}/api/v1/devices`, { headers: { authorization: `Bearer ${token}` } });
    expect(policies.status).toBe(200);
    await cp.stop();
    expect(cp.child.exitCode).toBe(0);
    // the embedded services went down with it
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
    for (const p of [pgPort, redisPort]) {
      const refused = await new Promise<boolean>((resolve) => {
        const s = connect(p, '127.0.0.1');
        s.once('connect', () => {
          s.destroy();
          resolve(false);
        });
        s.once('error', () => resolve(true));
      });
      expect(refused, `port ${p} still answers`).toBe(true);
    }
  });

  it('stops with a message that says how to get Redis when none answers and starting one is off', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'ef-zero-'));
    dirs.push(dataDir);
    const cp = startProcess(['apps/control-plane/dist/main.js'], {
      PORT: String(await freePort()),
      DATA_DIR: dataDir,
      REDIS_URL: `redis://127.0.0.1:${await freePort()}`,
      START_REDIS: 'never',
      DATABASE_URL: `postgresql://postgres@127.0.0.1:5432/ef_zero_${Date.now().toString(36)}`,
    });
    procs.push(cp);
    const code = await new Promise<number | null>((resolve) => cp.child.once('exit', resolve));
    expect(code).toBe(1);
    expect(cp.output()).toMatch(/Redis does not answer at REDIS_URL .*point REDIS_URL at one/);
  });

  it('stops with a message naming the variable when the configuration is invalid', async () => {
    const cp = startProcess(['apps/control-plane/dist/main.js'], { PORT: 'eighty' });
    procs.push(cp);
    const code = await new Promise<number | null>((resolve) => cp.child.once('exit', resolve));
    expect(code).toBe(1);
    expect(cp.output()).toMatch(/PORT/);
  });
});
