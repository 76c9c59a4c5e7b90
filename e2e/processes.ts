import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, startNodeProcess, waitFor, type Proc, type WaitForOptions } from '@edge-fleet/test-utils';

export type { Proc } from '@edge-fleet/test-utils';
import pg from 'pg';
import { chromium, type Browser } from 'playwright-core';
import { Agent, fetch as undiciFetch } from 'undici';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Starts a real process of the system from the repository root, keeping its output for the failure message. */
export function startProcess(args: string[], env: Record<string, string>): Proc {
  return startNodeProcess(args, { cwd: ROOT, env, keepChars: 20_000 });
}

/** How a test polls a real process: every 250 ms, a refused request is "not yet", a timeout shows its output. */
export function polling(proc?: Proc): WaitForOptions {
  return { intervalMs: 250, retryErrors: true, ...(proc ? { detail: () => `--- output ---\n${proc.output()}` } : {}) };
}

const ADMIN_URL = process.env.TEST_DATABASE_ADMIN_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';

/** A control plane running as a real process on a database and a data directory of its own. */
export interface E2eControlPlane {
  proc: Proc;
  /** Its base URL, http://127.0.0.1:<port> (https with TLS=on). */
  api: string;
  /** fetch that trusts its CA (with TLS=on; the platform's fetch otherwise). */
  fetch: typeof fetch;
  /** With TLS=on: the CA it generated, which devices and the dashboard trust. */
  caFile: string;
  /** The operator token it wrote at first start. */
  token: string;
  dataDir: string;
  dbUrl: string;
  /** Stops it, drops its database and removes its data directory: stop whatever uses them first. */
  stop: () => Promise<void>;
}

/**
 * Starts the control plane (embedded broker, external Postgres) on a fresh database named after
 * `name` and a fresh data directory, and waits until it is ready. `env` adds to or overrides the
 * settings every e2e test uses (20 Hz probe, 1 s telemetry windows).
 */
export async function startE2eControlPlane(name: string, env: Record<string, string> = {}): Promise<E2eControlPlane> {
  const dataDir = await mkdtemp(path.join(tmpdir(), `${name}-`));
  const dbName = `${name.replaceAll('-', '_')}_${Date.now().toString(36)}`;
  const db = new URL(ADMIN_URL);
  db.pathname = `/${dbName}`;
  const tls = env.TLS === 'on';
  const api = `${tls ? 'https' : 'http'}://127.0.0.1:${await freePort()}`;
  const caFile = path.join(dataDir, '.data', 'tls', 'ca.pem');
  let fetchApi: typeof fetch = fetch;
  const proc = startProcess(['apps/control-plane/dist/main.js'], {
    PORT: new URL(api).port,
    MQTT_EMBEDDED_PORT: String(await freePort()),
    DATA_DIR: path.join(dataDir, '.data'),
    DATABASE_URL: db.toString(),
    EMBEDDED_POSTGRES: 'never',
    DEVICE_RATE_HZ: '20',
    TELEMETRY_WINDOW_SECONDS: '1',
    ...env,
  });
  const stop = async (): Promise<void> => {
    await proc.stop();
    const c = new pg.Client({ connectionString: ADMIN_URL });
    await c.connect();
    await c.query(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
    await c.end();
    await rm(dataDir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      async () => {
        // the CA is written before the API listens
        if (tls && fetchApi === fetch) fetchApi = trustingFetch(await readFile(caFile, 'utf8'));
        return (await fetchApi(`${api}/readyz`)).ok;
      },
      120_000,
      'control plane ready',
      polling(proc),
    );
    const token = (await readFile(path.join(dataDir, '.data', 'operator-token'), 'utf8')).trim();
    return { proc, api, fetch: fetchApi, caFile, token, dataDir, dbUrl: db.toString(), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The dashboard (its production build) against the control plane at `api`; resolves with its process and URL once it serves. */
export async function startDashboard(api: string): Promise<{ proc: Proc; web: string }> {
  const port = await freePort();
  const proc = startProcess(
    ['apps/dashboard/node_modules/next/dist/bin/next', 'start', 'apps/dashboard', '-p', String(port), '-H', '127.0.0.1'],
    { CONTROL_PLANE_URL: api, NEXT_TELEMETRY_DISABLED: '1' },
  );
  const web = `http://127.0.0.1:${port}`;
  try {
    await waitFor(async () => (await fetch(`${web}/login`)).ok, 60_000, 'dashboard up', polling(proc));
  } catch (err) {
    await proc.stop();
    throw err;
  }
  return { proc, web };
}

/** fetch trusting `caPem` alone (a control plane with TLS=on and its generated CA). */
export function trustingFetch(caPem: string): typeof fetch {
  const dispatcher = new Agent({ connect: { ca: caPem } });
  return ((url: string, init?: RequestInit) =>
    undiciFetch(url, { ...(init as Parameters<typeof undiciFetch>[1]), dispatcher })) as unknown as typeof fetch;
}

/** A call to the control plane's REST API with the operator token; an error status throws with the body. */
export async function callApi<T>(
  api: string,
  token: string,
  method: string,
  p: string,
  body?: unknown,
  fetchWith: typeof fetch = fetch,
): Promise<T> {
  const init: RequestInit = { method, headers: { authorization: `Bearer ${token}` } };
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers = { ...init.headers, 'content-type': 'application/json' };
  }
  const res = await fetchWith(`${api}${p}`, init);
  if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/**
 * Debian's Chromium, headless, as root, with the background networking this machine's closed
 * network refuses turned off (nothing downloads a browser).
 */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
