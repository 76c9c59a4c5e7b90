import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type DesiredState, filters, type ReportedState, ReportedStateSchema, topics } from '@edge-fleet/shared';
import { mulberry32 } from '@edge-fleet/shared/random';
import { waitFor } from '@edge-fleet/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256File } from './artifact/artifact.downloader.js';
import type { CrashPoint } from './core/crash-points.js';
import { PROBATION_CRASH_LIMIT } from './reconcile/step.executor.js';
import { AgentStateStore, type PersistedState } from './storage/agent-state.store.js';
import { installTestCredentials, testCredentials, testDesired } from './test-support/agent.fixture.js';
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
let nextModel: ModelFile;

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
  await installTestCredentials(dataDir, testCredentials(deviceId, signer, 'data_analysis_agent', 'robot-npu-arm', 'z'));
  return { deviceId, dataDir, store: new AgentStateStore(dataDir) };
}

/** A new device that ran the old model (assignment 1) and was stopped cleanly. */
async function deviceOnOldModel(o: { pastProbation?: boolean } = {}): ReturnType<typeof newDevice> {
  const device = await newDevice();
  const { deviceId, dataDir, store } = device;
  await probe.publish(topics.desired(deviceId), signer.desired(desired(deviceId, 1, oldModel)), true);
  const first = runCli(dataDir);
  await probe.waitFor(reportedBy(deviceId, (r) => r.appliedAssignmentVersion === 1 && r.phase === 'running'));
  if (o.pastProbation === true)
    await waitFor(async () => ((await store.load()).probation === null ? true : null), 30_000, 'the first model past its probation');
  first.child.kill('SIGTERM');
  expect(await withDeadline(first, 10_000)).toBe(0);
  return device;
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
  nextModel = await writeModel('conv');
  server.add('/a/conv.onnx', nextModel.bytes);
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
    'row 3: %s: restarts with one complete, verified active model, reports it, and finishes the update',
    async (point) => {
      const { deviceId, dataDir, store } = await deviceOnOldModel();

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

describe('a model whose serving runtime crashes the agent (row 4)', () => {
  it(`row 4: after ${PROBATION_CRASH_LIMIT} crashed runs on probation the model is rejected at start, the previous one serves, the failure is reported and the next update is taken`, async () => {
    // the crash point fires for any model on probation: the first one passes its own first
    const { deviceId, dataDir, store } = await deviceOnOldModel({ pastProbation: true });

    // what a supervisor (systemd Restart=always) does: start the agent again after each crash
    await probe.publish(topics.desired(deviceId), signer.desired(desired(deviceId, 2, newModel)), true);
    for (let run = 1; run <= PROBATION_CRASH_LIMIT; run++) {
      const crashing = runCli(dataDir, 'serving-on-probation');
      const ended = await withDeadline(crashing, 30_000);
      expect(ended, `run ${run}: ${crashing.stdout.join('').slice(-500)}`).toBe('SIGKILL');
      expect(crashing.stdout.join('')).toContain('"point":"serving-on-probation"');
      const state = await store.load();
      expect(state.active?.model.sha256).toBe(newModel.sha256);
      expect(state.probation).toMatchObject({ assignmentVersion: 2, sha256: newModel.sha256, uncleanRuns: run });
    }

    // the next start does not load the crashing model: the crash point (still set) never fires again
    const from = probe.messages.length;
    const requests = server.requests;
    const survivor = runCli(dataDir, 'serving-on-probation');
    try {
      const report = await probe.waitFor(
        reportedBy(
          deviceId,
          (r) => r.lastUpdate?.assignmentVersion === 2 && r.lastUpdate.outcome === 'failed' && r.phase !== 'downloading',
        ),
        20_000,
        from,
      );
      const r = ReportedStateSchema.parse(report.payload);
      expect(r.active?.sha256).toBe(oldModel.sha256);
      expect(r.lastUpdate).toMatchObject({ reasonCode: 'watchdog_failed' });
      expect(r.lastUpdate?.message).toMatch(
        new RegExp(`^watchdog: model .* ended the agent without a clean stop ${PROBATION_CRASH_LIMIT} times in a row`),
      );
      // still alive well past the point where the crashing model killed it, and nothing downloaded again
      expect(await withDeadline(survivor, 3_000)).toBe('still running');
      expect(server.requests).toBe(requests);
    } finally {
      survivor.child.kill('SIGKILL');
    }
    const rejected = await store.load();
    expect(rejected).toMatchObject({
      watermark: 2,
      active: { model: { sha256: oldModel.sha256 } },
      previous: null,
      probation: null,
      rejected: { assignmentVersion: 2, sha256: newModel.sha256 },
    });
    expect(await checkDisk(dataDir, rejected)).toEqual([`${oldModel.sha256}.onnx`]);

    // a clean stop is not a crash: the next model on probation survives a restart with its count reset
    await probe.publish(topics.desired(deviceId), signer.desired(desired(deviceId, 3, nextModel)), true);
    const next = runCli(dataDir);
    await probe.waitFor(
      reportedBy(deviceId, (x) => x.appliedAssignmentVersion === 3 && x.phase === 'running'),
      20_000,
      from,
    );
    next.child.kill('SIGTERM');
    expect(await withDeadline(next, 10_000)).toBe(0);
    const taken = await store.load();
    expect(taken.active?.model.sha256).toBe(nextModel.sha256);
    if (taken.probation !== null) expect(taken.probation.uncleanRuns).toBe(0);
  }, 180_000);
});

// replay a failure with ROW2_SEED=<the seed in the test's title>
const ROW2_SEED = Number(process.env.ROW2_SEED ?? Math.floor(Math.random() * 2 ** 31));
const KILLS = 5;

describe('fleet-agent killed from outside at random offsets of a download (row 2)', () => {
  it(`row 2: ${KILLS} SIGKILLs at seeded offsets: the old model stays active, the partial file never outgrows what arrived, and the download resumes to a verified model (seed ${ROW2_SEED})`, async () => {
    const { deviceId, dataDir, store } = await deviceOnOldModel();

    const size = newModel.bytes.length;
    const random = mulberry32(ROW2_SEED);
    const offsets = Array.from({ length: KILLS }, () => 1 + Math.floor(random() * (size - 2)))
      .sort((x, y) => x - y)
      .filter((o, i, all) => i === 0 || o > (all[i - 1] ?? 0));
    const partialPath = join(dataDir, 'models', `.tmp-${newModel.sha256}`);
    const partialSize = (): Promise<number> =>
      stat(partialPath).then(
        (s) => s.size,
        () => 0,
      );
    await probe.publish(topics.desired(deviceId), signer.desired(desired(deviceId, 2, newModel)), true);
    const rangesBefore = server.ranges.length;
    const servedBefore = server.bytesServed;
    try {
      for (const offset of offsets) {
        // the server holds the download at `offset`; the kill lands there, not at a step of the agent's choosing
        const had = await partialSize();
        server.mode = 'stall';
        server.stallAfterBytes = offset - had;
        const run = runCli(dataDir);
        await waitFor(async () => ((await partialSize()) >= offset ? true : null), 20_000, `the partial file at ${offset} bytes`, {
          intervalMs: 10,
        });
        run.child.kill('SIGKILL');
        expect(await withDeadline(run, 10_000)).toBe('SIGKILL');
        const state = await store.load();
        expect(state.active?.model.sha256, `killed at ${offset}`).toBe(oldModel.sha256);
        expect(state.watermark).toBe(1);
        expect(await partialSize()).toBe(offset);
        const names = await checkDisk(dataDir, state);
        expect(names.filter((n) => n.startsWith('.tmp-'))).toEqual([`.tmp-${newModel.sha256}`]);
        expect(names).not.toContain(`${newModel.sha256}.onnx`);
      }
    } finally {
      server.mode = 'ok';
      server.stallAfterBytes = 0;
    }

    const from = probe.messages.length;
    const last = runCli(dataDir);
    try {
      const done = await probe.waitFor(
        reportedBy(deviceId, (r) => r.appliedAssignmentVersion === 2 && r.phase === 'running'),
        30_000,
        from,
      );
      expect(ReportedStateSchema.parse(done.payload).active?.sha256).toBe(newModel.sha256);
    } finally {
      last.child.kill('SIGTERM');
      expect(await withDeadline(last, 10_000)).toBe(0);
    }
    // every restart asked for the bytes after the ones it kept; none was fetched twice
    const resumes = server.ranges.slice(rangesBefore);
    expect(resumes).toEqual([null, ...offsets.map((o) => `bytes=${o}-`)]);
    expect(server.bytesServed - servedBefore).toBe(size);
    const final = await store.load();
    expect(final.active?.model.sha256).toBe(newModel.sha256);
    expect(await checkDisk(dataDir, final)).toEqual([`${oldModel.sha256}.onnx`, `${newModel.sha256}.onnx`].sort());
  }, 180_000);
});
