import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { filters, StatusMessageSchema, topics } from '@edge-fleet/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCredentials } from './storage/credentials.store.js';
import { FakeControlPlane } from './test-support/control-plane.fake.js';
import { BROKER_URL, MqttProbe } from './test-support/mqtt.probe.js';

const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const TOKEN = `tok-${Date.now()}-0123456789`;
const cp = new FakeControlPlane(BROKER_URL);
const probe = new MqttProbe();
const cleanup: string[] = [];

interface Run {
  child: ChildProcess;
  stdout: string[];
  stderr: string[];
  exited: Promise<number | null>;
}

function runCli(args: string[]): Run {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const run: Run = { child, stdout: [], stderr: [], exited: new Promise((r) => child.on('exit', (code) => r(code))) };
  child.stdout?.on('data', (d: Buffer) => run.stdout.push(d.toString('utf8')));
  child.stderr?.on('data', (d: Buffer) => run.stderr.push(d.toString('utf8')));
  return run;
}

async function waitForLog(run: Run, msg: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (run.stdout.join('').includes(`"msg":"${msg}"`)) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`no "${msg}" log line; stdout: ${run.stdout.join('')} stderr: ${run.stderr.join('')}`);
}

const freshDir = (): Promise<string> => mkdtemp(join(tmpdir(), 'agent-cli-'));

beforeAll(async () => {
  cp.addToken(TOKEN);
  await cp.start();
  await probe.connect(filters.status);
});

afterAll(async () => {
  for (const id of cleanup) await probe.publish(topics.status(id), null, true);
  await probe.close();
  await cp.stop();
});

describe('fleet-agent CLI', () => {
  it('rejects an unknown preset naming the known ones, before contacting anything', async () => {
    const run = runCli(['--url', cp.url, '--data-dir', await freshDir(), '--token', TOKEN, '--profile', 'no-such-box']);
    expect(await run.exited).toBe(2);
    expect(run.stderr.join('')).toMatch(/"no-such-box" is neither a hardware preset \(known: edge-npu-trading/);
    expect(cp.requests).toBe(0);
  });

  it('requires --token and --profile before enrollment', async () => {
    const run = runCli(['--url', cp.url, '--data-dir', await freshDir()]);
    expect(await run.exited).toBe(2);
    expect(run.stderr.join('')).toContain('--token and --profile are required');
  });

  it('prints the control plane message for a wrong token', async () => {
    const run = runCli([
      '--url',
      cp.url,
      '--data-dir',
      await freshDir(),
      '--token',
      'wrong-token-0123456789',
      '--profile',
      'robot-npu-arm',
    ]);
    expect(await run.exited).toBe(1);
    expect(run.stderr.join('')).toContain('enrollment refused (HTTP 401 invalid_token): unknown or expired enrollment token');
  });

  it('enrolls, stores 0600 credentials, goes online, stops cleanly on SIGTERM, and reuses credentials', async () => {
    const dir = await freshDir();
    const run = runCli(['--url', cp.url, '--data-dir', dir, '--token', TOKEN, '--profile', 'robot-npu-arm', '--name', 'arm-1']);
    await waitForLog(run, 'mqtt connected');
    const creds = await loadCredentials(dir);
    if (creds === null) throw new Error('no credentials written');
    cleanup.push(creds.deviceId);
    expect((await stat(join(dir, 'credentials.json'))).mode & 0o777).toBe(0o600);
    expect(creds.deviceId).toBe(cp.enrolled[0]?.deviceId);
    const from = probe.messages.length;
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    await probe.waitFor(
      (m) => m.topic === topics.status(creds.deviceId) && StatusMessageSchema.parse(m.payload).state === 'offline',
      5_000,
      from,
    );
    const out = run.stdout.join('');
    expect(out).not.toContain(creds.deviceSecret);
    for (const line of out.trim().split('\n')) expect(JSON.parse(line)).toHaveProperty('level');

    const before = cp.requests;
    const again = runCli(['--url', cp.url, '--data-dir', dir]);
    await waitForLog(again, 'mqtt connected');
    again.child.kill('SIGINT');
    expect(await again.exited).toBe(0);
    expect(cp.requests).toBe(before);
  });

  it('explains a reused token', async () => {
    const run = runCli(['--url', cp.url, '--data-dir', await freshDir(), '--token', TOKEN, '--profile', 'robot-npu-arm']);
    expect(await run.exited).toBe(1);
    expect(run.stderr.join('')).toContain('token_used): this enrollment token has already been used');
  });
});
