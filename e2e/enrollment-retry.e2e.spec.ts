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
  it('the agent run again with the same single-use token becomes the device the lost answer named, and goes online', async () => {
    if (!run || !proxy) throw new Error('not started');
    const { api, token, dataDir } = run;
    const call = <T>(method: string, p: string, body?: unknown): Promise<T> => callApi<T>(api, token, method, p, body);
    const { token: enrollToken } = await call<{ token: string }>('POST', '/api/v1/enrollment-tokens', {
      scenario: 'robotic_manipulation',
      maxUses: 1,
    });
    const agentDir = path.join(dataDir, 'agent');
    const agentArgs = [
      'apps/device-agent/dist/cli.js',
      '--url',
      `http://127.0.0.1:${proxy.port}`,
      '--token',
      enrollToken,
      '--profile',
      'robot-npu-arm',
      '--name',
      'e2e-lost-answer',
      '--data-dir',
      agentDir,
      '--serve-port',
      '0',
    ];

    // the request reaches the control plane, which enrolls the device; its answer never arrives
    proxy.cutAfter(0);
    const first = startProcess(agentArgs, {});
    procs.push(first);
    expect(await exitCode(first)).toBe(1);
    expect(first.output()).toContain('run the agent again with the same token');
    const made = await call<{ items: Device[] }>('GET', '/api/v1/devices?search=e2e-lost-answer');
    expect(made.items).toHaveLength(1);
    const deviceId = made.items[0]?.id;
    await access(path.join(agentDir, 'enrollment-pending.json'));

    proxy.cutAfter(null);
    const second = startProcess(agentArgs, {});
    procs.push(second);
    const online = await waitFor(
      async () => (await call<Device>('GET', `/api/v1/devices/${deviceId}`)).status === 'online',
      60_000,
      'the enrolled device online',
      polling(second),
    );
    expect(online).toBe(true);
    const after = await call<{ items: Device[] }>('GET', '/api/v1/devices?search=e2e-lost-answer');
    expect(after.items.map((d) => d.id)).toEqual([deviceId]);
    await expect(access(path.join(agentDir, 'enrollment-pending.json'))).rejects.toThrow(/ENOENT/);
    const audit = await call<{ items: { action: string; targetId: string }[] }>('GET', `/api/v1/audit?targetId=${deviceId}`);
    expect(audit.items.map((e) => e.action).sort()).toEqual(['device.enroll', 'device.enroll_retry']);
  });
});
