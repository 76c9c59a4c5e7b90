import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildMlpClassifier } from '@edge-fleet/onnx-builder';
import { hardwarePreset, type HardwarePresetName } from '@edge-fleet/shared';
import { freePort, Mosquitto, TcpProxy } from '@edge-fleet/test-utils';
import pg from 'pg';
import { startControlPlane, type ControlPlane } from '../app.js';
import type { Role } from '../app.module.js';
import { ConfigSchema, deriveConfig, type Config } from '../config.js';
import { Logger } from '../infra/logger.js';
import { ensureDatabase, migrate } from '../infra/services.js';

// the repository's one freePort and waitFor (packages/test-utils), re-exported so a spec's test kit stays one import
export { freePort, waitFor } from '@edge-fleet/test-utils';

export const ADMIN_URL = process.env.TEST_DATABASE_ADMIN_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

const MIGRATIONS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../prisma/migrations');

async function migrationsHash(): Promise<string> {
  const h = createHash('sha256');
  for (const dir of (await readdir(MIGRATIONS)).sort()) {
    if (dir.endsWith('.toml')) continue;
    h.update(dir).update(await readFile(path.join(MIGRATIONS, dir, 'migration.sql')));
  }
  return h.digest('hex').slice(0, 12);
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: ADMIN_URL });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/**
 * A template database built once by the real migrations (`prisma migrate deploy`) for the current
 * migrations; each test file then gets a copy of it, which takes well under a second.
 */
async function templateDatabase(): Promise<string> {
  const name = `ef_tpl_${await migrationsHash()}`;
  const exists = await admin(async (c) => (await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount === 1);
  if (exists) return name;
  const building = `${name}_${randomBytes(3).toString('hex')}`;
  const u = new URL(ADMIN_URL);
  u.pathname = `/${building}`;
  await ensureDatabase(u.toString());
  try {
    await migrate(u.toString(), new Logger('test', 'warn'));
  } catch (e) {
    await admin((c) => c.query(`DROP DATABASE IF EXISTS "${building}" WITH (FORCE)`));
    throw e;
  }
  await admin(async (c) => {
    await c
      .query(`ALTER DATABASE "${building}" RENAME TO "${name}"`)
      .catch(async () => c.query(`DROP DATABASE IF EXISTS "${building}" WITH (FORCE)`));
  });
  return name;
}

/** A fresh, migrated database for one test file. */
export async function freshDatabase(prefix = 'ef_test'): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const template = await templateDatabase();
  await admin((c) => c.query(`CREATE DATABASE "${name}" TEMPLATE "${template}"`));
  const u = new URL(ADMIN_URL);
  u.pathname = `/${name}`;
  const url = u.toString();
  return {
    url,
    drop: async () => {
      const c = new pg.Client({ connectionString: ADMIN_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await c.end();
    },
  };
}

/**
 * Starts the control plane on two free ports. A port found free can be taken by another process
 * before the control plane binds it (seen as EADDRINUSE in CI), so that case is tried again on new ports.
 */
async function startOnFreePorts(
  env: Record<string, string>,
  dbUrl: string,
  dataDir: string,
  logger: Logger,
  roles?: readonly Role[],
): Promise<{ cp: ControlPlane; config: Config }> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const mqttPort = await freePort();
    if (mqttPort === port) continue;
    const config = deriveConfig(
      ConfigSchema.parse({
        PORT: String(port),
        MQTT_EMBEDDED_PORT: String(mqttPort),
        DATA_DIR: dataDir,
        DATABASE_URL: dbUrl,
        REDIS_URL: TEST_REDIS_URL,
        LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'error',
        TELEMETRY_FLUSH_MS: '20',
        QUEUE_PREFIX: `ef-test-${randomBytes(4).toString('hex')}`,
        // the ingest's session on an external broker is persistent: each replica of a test its own
        MQTT_CLIENT_ID: `ef-test-cp-${randomBytes(4).toString('hex')}`,
        VARIANT_BUILD: 'off',
        // VirtualDevice sends a window every 200 ms against the 5 s window of the configuration: a
        // quota wide enough for that; the quota's own test sets the production slack
        TELEMETRY_QUOTA_SLACK: '100',
        // tests drive the API far faster than an operator and present wrong credentials on purpose,
        // all from 127.0.0.1: limits wide enough for that; the limits' own test sets the production ones
        RATE_LIMIT_PER_SECOND: '0',
        RATE_LIMIT_ENROLL_PER_SECOND: '0',
        LOCKOUT_FAILURES: '100000',
        ...env,
      }),
    );
    try {
      return { cp: await startControlPlane(config, dbUrl, logger, roles), config };
    } catch (e) {
      const inUse = e instanceof Error && 'code' in e && e.code === 'EADDRINUSE';
      if (!inUse || attempt >= 3 || env.PORT !== undefined || env.MQTT_EMBEDDED_PORT !== undefined) throw e;
    }
  }
}

export interface Harness {
  cp: ControlPlane;
  config: Config;
  dbUrl: string;
  dataDir: string;
  api: (p: string, init?: RequestInit) => Promise<Response>;
  close: () => Promise<void>;
}

/** The real control plane on a fresh database, an embedded broker on a free port, real Redis. */
/**
 * `opts.dbUrl`: run against another harness's database (a second replica); it is dropped by its
 * owner. `opts.roles`: the process's roles (default api and worker, as `main` runs them).
 */
/** `logger`: where the control plane's log lines go (default: errors only, to stdout). */
export async function startHarness(
  env: Record<string, string> = {},
  opts: { dbUrl?: string; roles?: readonly Role[] } = {},
  logger = new Logger('test', 'error'),
): Promise<Harness> {
  const db = opts.dbUrl !== undefined ? { url: opts.dbUrl, drop: () => Promise.resolve() } : await freshDatabase();
  // like the default DATA_DIR (.data), the path has a dot-directory in it
  const dataDir = path.join(await mkdtemp(path.join(tmpdir(), 'ef-cp-')), '.data');
  const { cp, config } = await startOnFreePorts(env, db.url, dataDir, logger, opts.roles);
  const api = (p: string, init: RequestInit = {}) =>
    fetch(`${cp.url}${p}`, { ...init, headers: { authorization: `Bearer ${cp.operatorToken}`, ...(init.headers ?? {}) } });
  return {
    cp,
    config,
    dbUrl: db.url,
    dataDir,
    api,
    close: async () => {
      await cp.stop();
      await db.drop();
      await rm(path.dirname(dataDir), { recursive: true, force: true });
    },
  };
}

/** The rows of one statement on the harness's database, on a connection of its own. */
export async function queryRows<T>(h: Pick<Harness, 'dbUrl'>, sql: string, params: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: h.dbUrl });
  await c.connect();
  try {
    return (await c.query(sql, params)).rows as T[];
  } finally {
    await c.end();
  }
}

/** The two brokers every device-facing security test runs on (STYLE: an anonymous broker is never relied on). */
export type BrokerKind = 'embedded' | 'mosquitto';

/**
 * A harness on the embedded broker, or on a private Mosquitto with dynamic security started for it;
 * its `close` stops both.
 */
export async function startHarnessOn(kind: BrokerKind, env: Record<string, string> = {}): Promise<Harness> {
  if (kind === 'embedded') return startHarness(env);
  const mosquitto = await Mosquitto.create('dynsec');
  await mosquitto.start();
  try {
    const h = await startHarness({ ...mosquitto.controlPlaneEnv, ...env });
    return {
      ...h,
      close: async () => {
        await h.close();
        await mosquitto.close();
      },
    };
  } catch (e) {
    await mosquitto.close();
    throw e;
  }
}

/**
 * A control plane that reaches its fresh database only through a TCP proxy the test can cut and
 * restore (Postgres away, RELIABILITY row 19); the test's own checks can use `db.url` directly.
 */
export async function startHarnessBehindProxy(
  env: Record<string, string> = {},
): Promise<{ h: Harness; proxy: TcpProxy; db: { url: string; drop: () => Promise<void> }; close: () => Promise<void> }> {
  const db = await freshDatabase();
  const target = new URL(db.url);
  const proxy = await TcpProxy.start(target.hostname, Number(target.port || 5432));
  const proxied = new URL(db.url);
  proxied.port = String(proxy.port);
  const h = await startHarness(env, { dbUrl: proxied.toString() });
  return {
    h,
    proxy,
    db,
    close: async () => {
      await proxy.restore().catch(() => undefined); // a failed test may leave it cut: let the control plane stop cleanly
      await h.close();
      await proxy.close();
      await db.drop();
    },
  };
}

/**
 * What the device and API helpers need of a control plane: its URL, an authorised call and the
 * broker URL. A Harness is one; so is a control plane running as separate processes.
 */
export interface ApiTarget {
  cp: { url: string };
  config: { mqttUrl: string };
  api: (p: string, init?: RequestInit) => Promise<Response>;
}

export async function jsonPost(h: ApiTarget, p: string, body: unknown, auth = true): Promise<Response> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (!auth) return fetch(`${h.cp.url}${p}`, { method: 'POST', headers, body: JSON.stringify(body) });
  return h.api(p, { method: 'POST', headers, body: JSON.stringify(body) });
}

/** Uploads a generated MLP classifier as a model version; returns its id and its FP32 variant's id. */
export async function uploadMlp(h: ApiTarget, name: string, version: string, seed: number): Promise<{ id: string; variant: string }> {
  const m = buildMlpClassifier({ seed });
  const form = new FormData();
  form.set('file', new Blob([Buffer.from(m.bytes)]), `${name}.onnx`);
  form.set('name', name);
  form.set('version', version);
  form.set('inputs', JSON.stringify(m.inputs));
  const res = await h.api('/api/v1/models', { method: 'POST', body: form });
  if (res.status !== 201) throw new Error(`upload of ${name} ${version} failed: ${res.status} ${await res.text()}`);
  const v = (await res.json()) as { id: string; variants: { id: string; precision: string }[] };
  const fp32 = v.variants.find((x) => x.precision === 'fp32');
  if (!fp32) throw new Error(`upload of ${name} ${version} has no FP32 variant`);
  return { id: v.id, variant: fp32.id };
}

/** Inserts a hardware profile of a preset under `id` by SQL, for tests that insert their devices by SQL too. */
export async function insertHardwareProfile(db: pg.Client, id: string, preset: HardwarePresetName): Promise<void> {
  const spec = hardwarePreset(preset);
  await db.query(`INSERT INTO "HardwareProfile" (id, "hardwareClass", accelerator, spec) VALUES ($1, $2, $3, $4)`, [
    id,
    spec.hardwareClass,
    spec.accelerator,
    spec,
  ]);
}

/** Gives a scenario a model version (what its devices run before a rollout); throws unless the API accepts it. */
export async function setScenarioModel(h: ApiTarget, scenario: string, modelVersionId: string): Promise<void> {
  const res = await h.api(`/api/v1/scenarios/${scenario}/model`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ modelVersionId }),
  });
  if (res.status !== 200) throw new Error(`setting the model of ${scenario} failed: ${res.status} ${await res.text()}`);
}
