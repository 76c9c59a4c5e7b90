import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '@edge-fleet/test-utils';
import pg from 'pg';
import { sleep } from '../../core/stats.js';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../..');
const MAIN = path.join(REPO_ROOT, 'apps/control-plane/dist/main.js');
export const ADMIN_URL = process.env.BENCH_DATABASE_ADMIN_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';

export interface ControlPlaneProcess {
  url: string;
  mqttUrl: string;
  operatorToken: string;
  dbUrl: string;
  pid: number;
  dataDir: string;
  /** The control plane's own stderr/stdout tail, for error messages. */
  logTail: () => string;
  /** Every stdout line so far that matched StartOptions.keepLines (e.g. a log line with timings). */
  keptLines: () => string[];
  stop: () => Promise<void>;
}

export interface StartOptions {
  /** External broker (e.g. Mosquitto); unset = the embedded aedes broker. */
  mqttUrl?: string | undefined;
  env?: Record<string, string>;
  dbPrefix?: string;
  /**
   * Another replica: this process uses its database and data directory (keys) and leaves both in
   * place on stop (the first replica removes them). Start replicas one after another: each applies
   * the migrations.
   */
  replicaOf?: Pick<ControlPlaneProcess, 'dbUrl' | 'dataDir'>;
  /** Another build's entry point (e.g. a copy of `dist` made before a change, to measure both in one run); default this checkout's. */
  main?: string;
  /** Stdout lines to keep whole, beyond the tail (see keptLines). */
  keepLines?: RegExp;
  /** Node flags for the control plane, e.g. `--cpu-prof`; `BENCH_CP_NODE_ARGS` adds to them, so any bench can profile it. */
  nodeArgs?: string[];
}

/**
 * The real control plane as its own process (so its CPU and RSS can be read from /proc) on free
 * ports, a fresh database that is dropped on stop, a fresh queue prefix and data dir.
 */
export async function startControlPlaneProcess(o: StartOptions = {}): Promise<ControlPlaneProcess> {
  const main = o.main ?? MAIN;
  if (!existsSync(main)) throw new Error(`${main} is missing: build the control plane first (pnpm build)`);
  const dbName = `${o.dbPrefix ?? 'ef_bench'}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const dbUrl = new URL(o.replicaOf?.dbUrl ?? ADMIN_URL);
  if (!o.replicaOf) dbUrl.pathname = `/${dbName}`;
  const dataDir = o.replicaOf?.dataDir ?? (await mkdtemp(path.join(tmpdir(), 'ef-bench-')));
  const port = await freePort();
  const mqttPort = await freePort();
  const env: Record<string, string> = {
    ...filteredEnv(),
    PORT: String(port),
    MQTT_EMBEDDED_PORT: String(mqttPort),
    DATA_DIR: dataDir,
    DATABASE_URL: dbUrl.toString(),
    REDIS_URL: process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379',
    QUEUE_PREFIX: `ef-bench-${randomBytes(4).toString('hex')}`,
    LOG_LEVEL: 'warn',
    EMBEDDED_POSTGRES: 'never',
    START_REDIS: 'never',
    // one token (or one address) drives thousands of requests or enrollments per second here: the
    // benches measure throughput, not the abuse limits (their test is auth/abuse-limits.int.spec.ts)
    RATE_LIMIT_PER_SECOND: '0',
    RATE_LIMIT_ENROLL_PER_SECOND: '0',
    // the machine's anonymous Mosquitto provisions nothing (README, "Running with Mosquitto"): it
    // measures the broker's throughput; its ACLs are not the benchmark's subject
    ...(o.mqttUrl ? { MQTT_URL: o.mqttUrl, MQTT_PROVISIONING: 'none' } : {}),
    // a persistent session per run: another bench's control plane on the same host must not take it over
    MQTT_CLIENT_ID: `ef-bench-${randomBytes(4).toString('hex')}`,
    ...o.env,
  };
  const nodeArgs = [...(o.nodeArgs ?? []), ...(process.env.BENCH_CP_NODE_ARGS ?? '').split(' ').filter(Boolean)];
  const child = spawn(process.execPath, [...nodeArgs, main], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const tail: string[] = [];
  const keep = (b: Buffer): void => {
    tail.push(b.toString());
    if (tail.length > 50) tail.shift();
  };
  child.stdout?.on('data', keep);
  const kept: string[] = [];
  let partial = '';
  if (o.keepLines) {
    const pattern = o.keepLines;
    child.stdout?.on('data', (b: Buffer) => {
      const lines = (partial + b.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) if (pattern.test(l)) kept.push(l);
    });
  }
  child.stderr?.on('data', keep);
  const url = `http://127.0.0.1:${port}`;
  const drop = async (): Promise<void> => {
    if (o.replicaOf) return;
    await admin((c) => c.query(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`)).catch(() => undefined);
    await rm(dataDir, { recursive: true, force: true });
  };
  try {
    await waitReady(url, child, () => tail.join(''));
  } catch (e) {
    child.kill('SIGKILL');
    await drop();
    throw e;
  }
  const operatorToken = (await readFile(path.join(dataDir, 'operator-token'), 'utf8')).trim();
  return {
    url,
    dbUrl: dbUrl.toString(),
    dataDir,
    operatorToken,
    pid: child.pid ?? -1,
    mqttUrl: o.mqttUrl ?? `mqtt://127.0.0.1:${mqttPort}`,
    logTail: () => tail.join('').slice(-4_000),
    keptLines: () => [...kept],
    stop: async () => {
      await stopChild(child);
      await drop();
    },
  };
}

function filteredEnv(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !/^(MQTT_|DATABASE_URL|PORT$|DATA_DIR)/.test(k)) out[k] = v;
  return out;
}

async function waitReady(url: string, child: ChildProcess, tail: () => string): Promise<void> {
  const until = Date.now() + 90_000;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`control plane exited with code ${child.exitCode}:\n${tail().slice(-2_000)}`);
    const ok = await fetch(`${url}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    await sleep(200);
  }
  throw new Error(`control plane at ${url} was not ready within 90 s:\n${tail().slice(-2_000)}`);
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

export async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: ADMIN_URL });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}
