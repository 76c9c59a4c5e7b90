import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, startNodeProcess, waitFor, type Proc, type WaitForOptions } from '@edge-fleet/test-utils';
import { brokerAddress, VirtualDevice, type VirtualDesired, type WindowContext } from '@edge-fleet/test-utils/virtual-device';

export type { Proc } from '@edge-fleet/test-utils';
import pg from 'pg';
import { chromium, type Browser, type Page } from 'playwright-core';
import { Agent, FormData as UndiciFormData, fetch as undiciFetch } from 'undici';

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

/** The dashboard (its production build) against the control plane at `api` (`env` adds to its environment); resolves with its process and URL once it serves. */
export async function startDashboard(api: string, env: Record<string, string> = {}): Promise<{ proc: Proc; web: string }> {
  const port = await freePort();
  const proc = startProcess(
    ['apps/dashboard/node_modules/next/dist/bin/next', 'start', 'apps/dashboard', '-p', String(port), '-H', '127.0.0.1'],
    { CONTROL_PLANE_URL: api, NEXT_TELEMETRY_DISABLED: '1', ...env },
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

/** The part of packages/onnx-builder the e2e tests use (loaded from its build, as the start script does). */
interface OnnxBuilder {
  buildMlpClassifier: (o: { seed: number }) => { bytes: Uint8Array; inputs: unknown[] };
}

/**
 * Uploads a generated MLP classifier (version 1.0.0) through `fetchWith` (undici's fetch and
 * FormData, so a control plane with TLS=on is reached the same way); returns the version and its variants.
 */
export async function uploadMlp(
  api: string,
  token: string,
  name: string,
  seed: number,
  fetchWith: typeof fetch = undiciFetch as unknown as typeof fetch,
): Promise<{ id: string; variants: { id: string }[] }> {
  const { buildMlpClassifier } = (await import(path.join(ROOT, 'packages/onnx-builder/dist/index.js'))) as OnnxBuilder;
  const model = buildMlpClassifier({ seed });
  const form = new UndiciFormData();
  form.set('file', new Blob([Buffer.from(model.bytes)]), `${name}.onnx`);
  form.set('name', name);
  form.set('version', '1.0.0');
  form.set('inputs', JSON.stringify(model.inputs));
  const res = await fetchWith(`${api}/api/v1/models`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
    body: form as unknown as BodyInit,
  });
  if (res.status !== 201) throw new Error(`upload of ${name}: ${res.status} ${await res.text()}`);
  return (await res.json()) as { id: string; variants: { id: string }[] };
}

/** Waits until the device reports `variantId` active and running (downloaded, verified, smoke-tested, swapped). */
export async function waitForActiveVariant(
  call: <T>(method: string, p: string) => Promise<T>,
  deviceId: string,
  variantId: string | undefined,
  proc: Proc,
): Promise<{ reported: { phase: string; activeVariantId: string | null } | null }> {
  return waitFor(
    async () => {
      const d = await call<{ reported: { phase: string; activeVariantId: string | null } | null }>('GET', `/api/v1/devices/${deviceId}`);
      return d.reported?.phase === 'running' && d.reported.activeVariantId === variantId ? d : null;
    },
    90_000,
    'agent running the assigned model',
    polling(proc),
  );
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

/** A control plane, its dashboard and a browser, started together for a browser test. */
export interface DashboardStack {
  cp: E2eControlPlane;
  dash: Proc;
  web: string;
  browser: Browser;
  /** Closes the browser, then stops the dashboard and the control plane. */
  stop: () => Promise<void>;
}

/** Starts {@link startE2eControlPlane} (with `env`), the dashboard against it and Chromium. */
export async function startDashboardStack(name: string, env: Record<string, string> = {}): Promise<DashboardStack> {
  const cp = await startE2eControlPlane(name, env);
  let dash: Proc | null = null;
  try {
    const d = await startDashboard(cp.api);
    dash = d.proc;
    const browser = await launchBrowser();
    const stop = async (): Promise<void> => {
      await browser.close();
      await d.proc.stop();
      await cp.stop();
    };
    return { cp, dash: d.proc, web: d.web, browser, stop };
  } catch (err) {
    await dash?.stop();
    await cp.stop();
    throw err;
  }
}

/** Signs `page` in on the dashboard at `web` with `token` and waits until it has left the sign-in page. */
export async function signIn(page: Page, web: string, token: string): Promise<void> {
  await page.goto(`${web}/login`);
  await page.fill('[data-testid="token-input"]', token);
  await page.click('[data-testid="login-submit"]');
  await page.waitForURL((u) => !u.pathname.startsWith('/login'));
}

export type TelemetryWindowBody = Record<string, unknown>;

/**
 * Enrolls a device named `name` with `hardwareProfile` into `scenario` and returns its id, its secret
 * and a virtual device (not yet started) for it that reports one-second windows: the window's
 * identity and times, then `window`'s fields.
 */
export async function enrollWindowedDevice(
  cp: E2eControlPlane,
  opts: {
    scenario: string;
    name: string;
    agentVersion: string;
    hardwareProfile: Record<string, unknown>;
    window: (w: WindowContext<VirtualDesired>) => TelemetryWindowBody;
  },
): Promise<{ deviceId: string; deviceSecret: string; device: VirtualDevice<VirtualDesired> }> {
  const { token } = await callApi<{ token: string }>(cp.api, cp.token, 'POST', '/api/v1/enrollment-tokens', {
    scenario: opts.scenario,
  });
  const enrolled = await fetch(`${cp.api}/api/v1/devices/enroll`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token, name: opts.name, hardwareProfile: opts.hardwareProfile }),
  });
  if (enrolled.status !== 201) throw new Error(`enroll ${opts.name}: ${enrolled.status} ${await enrolled.text()}`);
  const creds = (await enrolled.json()) as { deviceId: string; deviceSecret: string; mqtt: { url: string } };
  const device = new VirtualDevice<VirtualDesired>({
    deviceId: creds.deviceId,
    deviceSecret: creds.deviceSecret,
    broker: brokerAddress(creds.mqtt.url),
    agentVersion: opts.agentVersion,
    reconnectPeriodMs: () => 500,
    behaviour: {
      readDesired: () => null,
      install: () => Promise.resolve({ outcome: 'ok' }),
      windowMs: () => 1_000,
      window: (w: WindowContext<VirtualDesired>) => ({
        schema: 1,
        deviceId: w.deviceId,
        bootId: w.bootId,
        seq: w.seq,
        windowStart: new Date(w.startMs).toISOString(),
        windowEnd: new Date(w.endMs).toISOString(),
        ...opts.window(w),
      }),
    },
  });
  return { deviceId: creds.deviceId, deviceSecret: creds.deviceSecret, device };
}
