import { access } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TcpProxy, waitFor } from '@edge-fleet/test-utils';
import { callApi, type E2eControlPlane, polling, startE2eControlPlane, startProcess, type Proc } from './processes.js';

let run: E2eControlPlane | undefined;
let proxy: TcpProxy | undefined;
const procs: Proc[] = [];

beforeAll(async () => {
  run = await startE2eControlPlane('ef-e2e-enroll');
  proxy = await TcpProxy.start('127.0.0.1', Number(new URL(run.api).port));
});

afterAll(async () => {
  for (const p of procs.reverse()) await p.stop();
  await proxy?.close();
  await run?.stop();
});

const exitCode = (p: Proc): Promise<number | null> =>
  p.child.exitCode !== null ? Promise.resolve(p.child.exitCode) : new Promise((resolve) => p.child.once('exit', (code) => resolve(code)));

interface Device {
  id: string;
  name: string;
  status: string;
}

describe('M2: an enrollment whose answer was lost, on real processes', () => {
  it('with one try allowed, the agent run again with the same single-use token becomes the device the lost answer named, and goes online', async () => {
    const { agentArgs, agentDir, call, pending } = await lostAnswerSetup('e2e-lost-answer');
    // the request reaches the control plane, which enrolls the device; its answer never arrives
    proxy?.cutAfter(0);
    const first = startProcess([...agentArgs, '--enroll-attempts', '1'], {});
    procs.push(first);
    expect(await exitCode(first)).toBe(1);
    expect(first.output()).toContain('run the agent again with the same token');
    const deviceId = await madeDevice(call, 'e2e-lost-answer');
    await access(pending);

    proxy?.cutAfter(null);
    const second = startProcess(agentArgs, {});
    procs.push(second);
    await expectEnrolledOnce(call, 'e2e-lost-answer', deviceId, second, agentDir);
  });

  it('by default the agent tries the same enrollment again by itself until it is answered', async () => {
    const { agentArgs, agentDir, call } = await lostAnswerSetup('e2e-retries-itself');
    proxy?.cutAfter(0);
    const agent = startProcess(agentArgs, {});
    procs.push(agent);
    const deviceId = await waitFor(() => madeDevice(call, 'e2e-retries-itself'), 30_000, 'the device made', polling(agent));
    // the link heals while the agent waits between tries
    proxy?.cutAfter(null);
    await expectEnrolledOnce(call, 'e2e-retries-itself', deviceId, agent, agentDir);
    expect(agent.output()).toContain('enrollment not answered; trying it again');
    expect(agent.child.exitCode).toBeNull();
  });
});

/** A single-use token and the agent's arguments for a device named `name`, through the proxy. */
async function lostAnswerSetup(name: string) {
  if (!run || !proxy) throw new Error('not started');
  const { api, token, dataDir } = run;
  const call = <T>(method: string, p: string, body?: unknown): Promise<T> => callApi<T>(api, token, method, p, body);
  const { token: enrollToken } = await call<{ token: string }>('POST', '/api/v1/enrollment-tokens', {
    scenario: 'robotic_manipulation',
    maxUses: 1,
  });
  const agentDir = path.join(dataDir, name);
  const agentArgs = [
    'apps/device-agent/dist/cli.js',
    '--url',
    `http://127.0.0.1:${proxy.port}`,
    '--token',
    enrollToken,
    '--profile',
    'robot-npu-arm',
    '--name',
    name,
    '--data-dir',
    agentDir,
    '--serve-port',
    '0',
  ];
  return { agentArgs, agentDir, call, pending: path.join(agentDir, 'enrollment-pending.json') };
}

type Call = <T>(method: string, p: string, body?: unknown) => Promise<T>;

/** The one device the control plane made for this name (throws until there is one). */
async function madeDevice(call: Call, name: string): Promise<string> {
  const made = await call<{ items: Device[] }>('GET', `/api/v1/devices?search=${name}`);
  const id = made.items.length === 1 ? made.items[0]?.id : undefined;
  if (id === undefined) throw new Error(`${made.items.length} devices named ${name}`);
  return id;
}

/** The agent online as `deviceId`, the only device of its name, the enrollment finished on disk, and audited as enrolled then retried. */
async function expectEnrolledOnce(call: Call, name: string, deviceId: string, agent: Proc, agentDir: string): Promise<void> {
  await waitFor(
    async () => (await call<Device>('GET', `/api/v1/devices/${deviceId}`)).status === 'online',
    60_000,
    'the enrolled device online',
    polling(agent),
  );
  expect(await madeDevice(call, name)).toBe(deviceId);
  await expect(access(path.join(agentDir, 'enrollment-pending.json'))).rejects.toThrow(/ENOENT/);
  const audit = await call<{ items: { action: string }[] }>('GET', `/api/v1/audit?targetId=${deviceId}`);
  expect(new Set(audit.items.map((e) => e.action))).toEqual(new Set(['device.enroll', 'device.enroll_retry']));
}
