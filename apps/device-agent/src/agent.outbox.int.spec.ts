import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { filters, type ReportedState, ReportedStateSchema, TelemetryWindowSchema, topics } from '@edge-fleet/shared';
import { TcpProxy, waitFor } from '@edge-fleet/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installTestCredentials, testCredentials, testDesired } from './test-support/agent.fixture.js';
import { ArtifactServer } from './test-support/artifact.server.js';
import { type CliRun, logLines, runCli, withDeadline } from './test-support/cli.process.js';
import { type ModelFile, writeModel } from './test-support/models.js';
import { BROKER_URL, MqttProbe } from './test-support/mqtt.probe.js';
import { TestSigner } from './test-support/test-signer.js';

const signer = new TestSigner();
const server = new ArtifactServer();
const reports = new MqttProbe();
const telemetry = new MqttProbe();
const broker = new URL(BROKER_URL);
const cleanup: string[] = [];
const proxies: TcpProxy[] = [];
const runs: CliRun[] = [];
let mlp: ModelFile;

beforeAll(async () => {
  mlp = await writeModel('mlp');
  server.add('/a/mlp.onnx', mlp.bytes);
  await server.start();
  await reports.connect(filters.reported);
  await telemetry.connect(filters.telemetry);
});

afterAll(async () => {
  for (const run of runs) if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGKILL');
  for (const id of cleanup) {
    await reports.publish(topics.desired(id), null, true);
    await reports.publish(topics.status(id), null, true);
  }
  for (const p of proxies) await p.close();
  await reports.close();
  await telemetry.close();
  await server.stop();
});

/** A window's identity: the control plane keeps one row per (device, boot, seq). */
type Id = string;

/** Windows on the broker for the device, in arrival order (duplicates kept). */
function delivered(deviceId: string): Id[] {
  return telemetry.messages
    .filter((m) => m.topic === topics.telemetry(deviceId))
    .map((m) => TelemetryWindowSchema.parse(m.payload))
    .map((w) => `${w.bootId}/${w.seq}`);
}

/** Windows the agent closed (and so had stored) in each run, in the order of the runs. */
function produced(all: CliRun[]): Id[] {
  return all.flatMap((run) =>
    logLines(run)
      .filter((l) => l.msg === 'telemetry window closed')
      .map((l) => `${String(l.bootId)}/${Number(l.seq)}`),
  );
}

function lastReport(deviceId: string): ReportedState | null {
  const mine = reports.messages.filter((m) => m.topic === topics.reported(deviceId));
  const last = mine.at(-1);
  return last === undefined ? null : ReportedStateSchema.parse(last.payload);
}

/**
 * Row 17's scenario through the real CLI: windows flow, the broker link is cut, the agent is
 * SIGKILLed twice while it keeps producing windows (each kill lands just after a window closed,
 * so every window is either logged as closed or never built), then the link comes back and the
 * third run is stopped with SIGTERM once its backlog has drained.
 */
async function outageWithTwoKills(extraArgs: string[], windowsPerRun: number) {
  const deviceId = randomUUID();
  cleanup.push(deviceId);
  const dataDir = await mkdtemp(join(tmpdir(), 'agent-outbox-'));
  await installTestCredentials(dataDir, testCredentials(deviceId, signer, 'data_analysis_agent', 'robot-npu-arm', 'o'));
  const served = { key: 'mlp', file: mlp, url: server.url('/a/mlp.onnx') };
  const state = testDesired(signer, deviceId, 1, served, {
    scenario: 'data_analysis_agent',
    reason: 'outbox test',
    runtime: { targetRateHz: 5, windowSeconds: 1 },
  });
  await reports.publish(topics.desired(deviceId), signer.desired(state), true);
  const proxy = await TcpProxy.start(broker.hostname, Number(broker.port || 1883));
  proxies.push(proxy);
  const args = [
    ...['--url', 'http://127.0.0.1:9', '--data-dir', dataDir, '--mqtt-url', `mqtt://127.0.0.1:${proxy.port}`],
    ...['--log-level', 'debug', '--serve-port', 'off', '--serve-socket', 'off'],
    ...extraArgs,
  ];
  const all: CliRun[] = [];
  const start = (): CliRun => {
    const run = runCli(args);
    all.push(run);
    runs.push(run);
    return run;
  };
  const closedIn = (run: CliRun): number => produced([run]).length;

  let run = start();
  await reports.waitFor((m) => m.topic === topics.reported(deviceId) && ReportedStateSchema.parse(m.payload).phase === 'running', 60_000);
  await waitFor(() => delivered(deviceId).length >= 2 || null, 30_000, 'windows before the outage');
  await proxy.cut('refuse');
  const deliveredBeforeCut = new Set(delivered(deviceId)).size;
  for (let kill = 0; kill < 3; kill++) {
    const target = closedIn(run) + windowsPerRun;
    await waitFor(() => closedIn(run) >= target || null, 60_000, `run ${all.length}: ${windowsPerRun} windows during the outage`);
    if (kill === 2) break;
    run.child.kill('SIGKILL');
    expect(await withDeadline(run, 10_000)).toBe('SIGKILL');
    run = start();
  }
  const duringOutage = delivered(deviceId).length - deliveredBeforeCut;
  await proxy.restore();
  // drained: the newest window the running agent closed has arrived (windows drain in order)
  await waitFor(
    () => {
      const latest = produced([run]).at(-1);
      return (latest !== undefined && delivered(deviceId).includes(latest)) || null;
    },
    60_000,
    'backlog drained',
  );
  run.child.kill('SIGTERM');
  expect(await withDeadline(run, 15_000)).toBe(0);
  const final = produced([run]).at(-1);
  await waitFor(() => (final !== undefined && delivered(deviceId).includes(final)) || null, 15_000, 'last window');
  const persisted = JSON.parse(await readFile(join(dataDir, 'outbox', 'outbox-state.json'), 'utf8').catch(() => '{}')) as {
    droppedWindows?: number;
  };
  return {
    deviceId,
    boots: all.map((r) => String(logLines(r).find((l) => l.msg === 'agent starting')?.bootId)),
    produced: produced(all),
    delivered: delivered(deviceId),
    duringOutage,
    deliveredBeforeCut,
    pendingFiles: (await readdir(join(dataDir, 'outbox'))).filter((n) => n.startsWith('w-')),
    persistedDrops: persisted.droppedWindows ?? 0,
  };
}

/** Windows in the order the agent produced them: by run, then seq. */
function ordered(ids: readonly Id[], boots: readonly string[]): Id[] {
  const key = (id: Id): [number, number] => {
    const [boot, seq] = id.split('/');
    return [boots.indexOf(boot ?? ''), Number(seq)];
  };
  return [...ids].sort((a, b) => {
    const [ba, sa] = key(a);
    const [bb, sb] = key(b);
    return ba - bb || sa - sb;
  });
}

describe('telemetry outbox through a broker outage (real CLI, Mosquitto behind a TCP proxy)', () => {
  it('row 17: windows produced while the broker is unreachable survive two SIGKILLs and drain once each, in order', async () => {
    const r = await outageWithTwoKills([], 3);
    expect(new Set(r.boots).size).toBe(3);
    expect(r.duringOutage).toBe(0);
    const unique = [...new Set(r.delivered)];
    // every window arrives, once per identity, in the order produced (boot by boot, seq by seq)
    expect(unique).toEqual(ordered(r.produced, r.boots));
    expect(unique).toEqual(r.produced);
    // a QoS 1 resend of the window in flight at the cut is the only duplicate there may be; ingest keeps one row
    expect(r.delivered.length - unique.length).toBeLessThanOrEqual(1);
    for (const boot of r.boots) expect(unique.filter((id) => id.startsWith(boot)).length).toBeGreaterThanOrEqual(3);
    expect(r.pendingFiles).toEqual([]);
    expect(r.persistedDrops).toBe(0);
    expect(lastReport(r.deviceId)?.telemetryDroppedWindows).toBeUndefined();
  }, 240_000);

  it('row 17: past a small cap the oldest windows are dropped, the drop count is reported, and delivered = produced − dropped', async () => {
    // 4 KiB blocks: four windows fit
    const r = await outageWithTwoKills(['--outbox-max-mb', String(16_384 / 1024 / 1024)], 6);
    const unique = [...new Set(r.delivered)];
    const reported = lastReport(r.deviceId)?.telemetryDroppedWindows ?? 0;
    expect(reported).toBeGreaterThan(0);
    expect(reported).toBe(r.persistedDrops);
    expect(unique.length).toBe(r.produced.length - reported);
    expect(unique).toEqual(ordered(unique, r.boots));
    // what is missing is one run of the oldest windows buffered: everything after it arrived
    const missing = r.produced.filter((id) => !unique.includes(id));
    expect(missing).toHaveLength(reported);
    const first = r.produced.indexOf(missing[0] ?? '');
    expect(missing).toEqual(r.produced.slice(first, first + missing.length));
    // ... and it starts with the first window the outage held back
    expect(first).toBe(r.deliveredBeforeCut);
  }, 240_000);
});
