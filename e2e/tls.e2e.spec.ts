import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { waitFor } from '@edge-fleet/test-utils';
import {
  callApi,
  launchBrowser,
  signIn,
  startDashboard,
  type E2eControlPlane,
  polling,
  startE2eControlPlane,
  startProcess,
  type Proc,
  uploadMlp,
  waitForActiveVariant,
} from './processes.js';

const procs: Proc[] = [];
let run: E2eControlPlane | undefined;
let browser: Browser | null = null;

beforeAll(async () => {
  // zero setup with TLS: the control plane generates its CA and server certificate
  run = await startE2eControlPlane('ef-e2e-tls', { TLS: 'on' });
}, 150_000);

afterAll(async () => {
  await browser?.close();
  for (const p of procs.reverse()) await p.stop();
  await run?.stop();
});

function cp(): E2eControlPlane {
  if (!run) throw new Error('control plane not started');
  return run;
}

const call = <T>(method: string, p: string, body?: unknown): Promise<T> => callApi<T>(cp().api, cp().token, method, p, body, cp().fetch);

interface Device {
  id: string;
  status: string;
  reported: { phase: string; activeVariantId: string | null } | null;
}

function agent(name: string, token: string, extra: string[]): Proc {
  const p = startProcess(
    [
      'apps/device-agent/dist/cli.js',
      '--url',
      cp().api,
      '--token',
      token,
      '--profile',
      'robot-npu-arm',
      '--name',
      name,
      '--data-dir',
      path.join(cp().dataDir, name),
      '--serve-port',
      'off',
      ...extra,
    ],
    {},
  );
  procs.push(p);
  return p;
}

/** Waits for a process to exit and returns its output. */
async function exited(p: Proc): Promise<string> {
  await waitFor(() => Promise.resolve(p.child.exitCode !== null), 30_000, 'agent exited', polling(p));
  return p.output();
}

describe('TLS end to end: https API, mqtts broker, the CA pinned by the agent', () => {
  it('an agent given the CA enrolls over https, connects over mqtts and runs a model downloaded over https', async () => {
    expect(cp().api).toMatch(/^https:/);
    const { token } = await call<{ token: string }>('POST', '/api/v1/enrollment-tokens', { scenario: 'robotic_manipulation' });
    const a = agent('tls-arm', token, ['--ca-file', cp().caFile]);
    const device = await waitFor(
      async () => (await call<{ items: Device[] }>('GET', '/api/v1/devices?search=tls-arm')).items.find((d) => d.status === 'online'),
      60_000,
      'agent enrolled and online over mqtts',
      polling(a),
    );
    const creds = JSON.parse(await readFile(path.join(cp().dataDir, 'tls-arm', 'credentials.json'), 'utf8')) as {
      mqtt: { url: string };
      tls?: { caCertificate: string };
    };
    expect(creds.mqtt.url).toMatch(/^mqtts:\/\//);
    expect(creds.tls?.caCertificate).toBe(await readFile(cp().caFile, 'utf8'));

    const version = await uploadMlp(cp().api, cp().token, 'tls-mlp', 7, cp().fetch);
    await call('PUT', '/api/v1/scenarios/robotic_manipulation/model', { modelVersionId: version.id });
    const running = await waitForActiveVariant(call, device.id, version.variants[0]?.id, a);
    expect(running.reported?.activeVariantId).toBe(version.variants[0]?.id);
  });

  it('an agent without the CA refuses to enroll, saying the certificate is not trusted (no trust on first use); a --ca-file holding no CA is refused', async () => {
    const { token } = await call<{ token: string }>('POST', '/api/v1/enrollment-tokens', { scenario: 'robotic_manipulation', maxUses: 5 });
    const bare = await exited(agent('tls-no-ca', token, []));
    expect(bare).toMatch(
      /cannot reach the control plane at https:\/\/127\.0\.0\.1:\d+: server refused: its certificate is not signed by the trusted CA/,
    );
    // any certificate that is not a CA's, here the server's own, is refused as a trust root at once
    const wrong = await exited(agent('tls-wrong-ca', token, ['--ca-file', path.join(cp().dataDir, '.data', 'tls', 'server.pem')]));
    expect(wrong).toMatch(/--ca-file .*server\.pem is not a CA certificate/);
    const { items } = await call<{ items: Device[] }>('GET', '/api/v1/devices?search=tls-');
    expect(items.map((d) => d.id)).toHaveLength(1);
  });

  it('the dashboard trusts the control plane CA (NODE_EXTRA_CA_CERTS) and signs an operator in over https', async () => {
    const { proc, web } = await startDashboard(cp().api, { NODE_EXTRA_CA_CERTS: cp().caFile });
    procs.push(proc);
    browser = await launchBrowser();
    const page = await browser.newPage();
    await signIn(page, web, cp().token);
    await page.goto(`${web}/devices`);
    await page.waitForSelector('text=tls-arm');
  });
});
