import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type DesiredState, filters, type ReportedState, ReportedStateSchema, topics } from '@edge-fleet/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256File } from './artifact/artifact.downloader.js';
import type { CrashPoint } from './core/crash-points.js';
import { AgentStateStore, type PersistedState } from './storage/agent-state.store.js';
import { saveCredentials } from './storage/credentials.store.js';
import { testCredentials, testDesired } from './test-support/agent.fixture.js';
import { ArtifactServer } from './test-support/artifact.server.js';
import { type ModelFile, writeModel } from './test-support/models.js';
import { MqttProbe, type Received } from './test-support/mqtt.probe.js';
import { TestSigner } from './test-support/test-signer.js';

const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const signer = new TestSigner();
const server = new ArtifactServer();
const probe = new MqttProbe();
const cleanup: string[] = [];
let oldModel: ModelFile;
let newModel: ModelFile; // ~590 KB, so a crash can land in the middle of its download

interface Run {
  child: ChildProcess;
  stdout: string[];
  /** The exit code, or the signal that ended the process. */
  exited: Promise<number | string | null>;
}

function runCli(dataDir: string, crashAt?: CrashPoint): Run {
  const env = { ...process.env, FLEET_AGENT_CRASH_AT: crashAt ?? '' };
  const child = spawn(
    process.execPath,
    [CLI, '--url', 'http://127.0.0.1:9', '--data-dir', dataDir, '--watchdog-windows', '1', '--watchdog-breaches', '1'],
    { stdio: ['ignore', 'pipe', 'pipe'], env },
  );
  const run: Run = { child, stdout: [], exited: new Promise((r) => child.on('exit', (code, signal) => r(signal ?? code))) };
  child.stdout?.on('data', (d: Buffer) => run.stdout.push(d.toString('utf8')));
  return run;
}

/** How the run ended, or 'still running' (then it is killed) after `ms`. */
async function withDeadline(run: Run, ms: number): Promise<number | string | null> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<string>((r) => (timer = setTimeout(() => r('still running'), ms)));
  const ended = await Promise.race([run.exited, late]).finally(() => clearTimeout(timer));
  if (ended === 'still running') run.child.kill('SIGKILL');
  return ended;
}

function desired(deviceId: string, version: number, m: ModelFile): DesiredState {
  const served = { key: m.name, file: m, url: server.url(`/a/${m.name}.onnx`) };
  // low tier (p99 <= 500 ms): the ~60 ms model is healthy here, so only the crash decides
  return testDesired(signer, deviceId, version, served, {
    scenario: 'data_analysis_agent',
    reason: 'crash test',
    runtime: { targetRateHz: 5 },
  });
}

const reportedBy =
  (deviceId: string, pred: (r: ReportedState) => boolean) =>
  (m: Received): boolean =>
    m.topic === topics.reported(deviceId) && pred(ReportedStateSchema.parse(m.payload));

async function newDevice(): Promise<{ deviceId: string; dataDir: string; store: AgentStateStore }> {
  const deviceId = randomUUID();
  cleanup.push(deviceId);
  const dataDir = await mkdtemp(join(tmpdir(), 'agent-crash-'));
  await saveCredentials(dataDir, testCredentials(deviceId, signer, 'data_analysis_agent', 'robot-npu-arm', 'z'));
  return { deviceId, dataDir, store: new AgentStateStore(dataDir) };
}

/** Every stored model file matches its name; at most one partial download. */
async function checkDisk(dataDir: string, state: PersistedState): Promise<string[]> {
  const names = (await readdir(join(dataDir, 'models'))).sort();
  expect(names.filter((n) => n.startsWith('.tmp-')).length).toBeLessThanOrEqual(1);
  for (const n of names.filter((x) => x.endsWith('.onnx'))) expect(`${await sha256File(join(dataDir, 'models', n))}.onnx`).toBe(n);
  const active = state.active?.model.sha256;
  expect(active).toBeDefined();
  expect(names).toContain(`${active ?? ''}.onnx`);
  return names;
}

beforeAll(async () => {
  oldModel = await writeModel('mlp');
  newModel = { ...(await writeModel('slow')), name: 'slow' };
  server.add('/a/mlp.onnx', oldModel.bytes);
  server.add('/a/slow.onnx', newModel.bytes);
  server.chunked = true;
  await server.start();
  await probe.connect(filters.reported);
});

afterAll(async () => {
  for (const id of cleanup) {
    await probe.publish(topics.desired(id), null, true);
    await probe.publish(topics.status(id), null, true);
  }
  await probe.close();
  await server.stop();
});

const POINTS: CrashPoint[] = [
  'mid-download',
  'after-download',
  'after-verify',
  'during-vetting',
  'after-load',
  'before-swap',
  'after-swap-before-persist',
  'after-persist-before-report',
];

describe('fleet-agent killed at each update step (FLEET_AGENT_CRASH_AT)', () => {
  it.each(POINTS)(
    '%s: restarts with one complete, verified active model, reports it, and finishes the update',
    async (point) => {
      const { deviceId, dataDir, store } = await newDevice();
      await probe.publish(topics.desired(deviceId), signer.desired(desired(deviceId, 1, oldModel)), true);
      const first = runCli(dataDir);
      await probe.waitFor(reportedBy(deviceId, (r) => r.appliedAssignmentVersion === 1 && r.phase === 'running'));
      first.child.kill('SIGTERM');
      expect(await withDeadline(first, 10_000)).toBe(0);

      await probe.publish(topics.desired(deviceId), signer.desired(desired(deviceId, 2, newModel)), true);
      const crashing = runCli(dataDir, point);
      const ended = await withDeadline(crashing, 20_000);
      expect(ended, crashing.stdout.join('').slice(-500)).toBe('SIGKILL');
      expect(crashing.stdout.join('')).toContain(`"point":"${point}"`);
      const atCrash = await store.load();
      const survivor = point === 'after-persist-before-report' ? newModel : oldModel;
      expect(atCrash.active?.model.sha256).toBe(survivor.sha256);
      expect(atCrash.watermark).toBe(1);
      const leftover = await checkDisk(dataDir, atCrash);
      const partial = point === 'mid-download' ? (await stat(join(dataDir, 'models', `.tmp-${newModel.sha256}`))).size : 0;
      if (point === 'mid-download') {
        expect(partial).toBeGreaterThanOrEqual(newModel.bytes.length / 2);
        expect(partial).toBeLessThan(newModel.bytes.length);
      }

      const from = probe.messages.length;
      const rangesBefore = server.ranges.length;
      const restarted = runCli(dataDir);
      try {
        const firstReport = await probe.waitFor(
          reportedBy(deviceId, () => true),
          20_000,
          from,
        );
        // what the restarted agent says first is what it runs: the model state.json had at the crash
        expect(ReportedStateSchema.parse(firstReport.payload).active?.sha256).toBe(survivor.sha256);
        const done = await probe.waitFor(
          reportedBy(deviceId, (r) => r.appliedAssignmentVersion === 2 && r.phase === 'running'),
          20_000,
          from,
        );
        expect(ReportedStateSchema.parse(done.payload)).toMatchObject({
          active: { sha256: newModel.sha256 },
          lastUpdate: { assignmentVersion: 2, outcome: 'ok' },
        });
      } finally {
        restarted.child.kill('SIGTERM');
        expect(await withDeadline(restarted, 10_000)).toBe(0);
      }
      const final = await store.load();
      expect(final).toMatchObject({
        watermark: 2,
        active: { model: { sha256: newModel.sha256 } },
        previous: { model: { sha256: oldModel.sha256 } },
      });
      expect(await checkDisk(dataDir, final)).toEqual([`${oldModel.sha256}.onnx`, `${newModel.sha256}.onnx`].sort());
      const ranges = server.ranges.slice(rangesBefore);
      if (point === 'mid-download')
        expect(ranges).toEqual([`bytes=${partial}-`]); // resumed, not restarted
      else if (leftover.some((n) => n.includes(newModel.sha256))) expect(ranges).toEqual([]); // nothing fetched twice
    },
    60_000,
  );
});
