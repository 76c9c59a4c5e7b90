import { randomUUID } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type DesiredState, type ReportedState, ReportedStateSchema, TelemetryWindowSchema, topics } from '@edge-fleet/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceAgent } from './agent.js';
import { createLogger } from './core/logger.js';
import { AgentStateStore } from './storage/agent-state.store.js';
import type { StoredCredentials } from './storage/credentials.store.js';
import { ArtifactServer } from './test-support/artifact.server.js';
import { type ModelFile, writeModel } from './test-support/models.js';
import { MqttProbe, type Received } from './test-support/mqtt.probe.js';
import { clearRetained, enrolledTestDevice, testDesired } from './test-support/agent.fixture.js';
import { TestSigner } from './test-support/test-signer.js';

// RELIABILITY row 27 / issue 10 item 4. The broker is the local anonymous Mosquitto: anyone may
// write to this device's desired topic (the worst case), and the probe is that anyone.
const deviceId = randomUUID();
const signer = new TestSigner();
const server = new ArtifactServer();
const probe = new MqttProbe();
const logs: { msg: string; reason?: string }[] = [];
const logger = createLogger('warn', (line) => logs.push(JSON.parse(line) as { msg: string; reason?: string }));
const models: Record<'mlp' | 'conv', ModelFile> = {} as Record<'mlp' | 'conv', ModelFile>;
let dataDir: string;
let creds: StoredCredentials;
let agent: DeviceAgent | null = null;
/** A genuine state the control plane issued earlier (unassign, number 2), captured off the broker by the attacker. */
let capturedOld: unknown;

const MAX_INT = 2_147_483_647;

function state(version: number, which: keyof typeof models | null, forDevice = deviceId): DesiredState {
  const served = which === null ? null : { key: which, file: models[which], url: server.url(`/a/${which}.onnx`) };
  return testDesired(signer, forDevice, version, served, { reason: 'forged desired state test' });
}

const reported =
  (pred: (r: ReportedState) => boolean) =>
  (m: Received): boolean =>
    m.topic === topics.reported(deviceId) && pred(ReportedStateSchema.parse(m.payload));

async function startAgent(): Promise<DeviceAgent> {
  const a = new DeviceAgent({ dataDir, credentials: creds, logger, seed: 11, powerCounters: [] });
  await a.start();
  agent = a;
  return a;
}

async function refusal(from: number): Promise<string> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const hit = logs.slice(from).find((l) => l.msg === 'desired state refused');
    if (hit !== undefined) return hit.reason ?? '';
    if (Date.now() > deadline) throw new Error('the agent did not refuse the message within 10 s');
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** What must not move: the model loaded and serving, and the watermark in memory and on disk. */
async function expectUnchanged(version: number, sha256: string): Promise<void> {
  expect(agent?.reportedState()).toMatchObject({ appliedAssignmentVersion: version, phase: 'running', active: { sha256 } });
  expect((await new AgentStateStore(dataDir).load()).watermark).toBe(version);
}

async function runs(variantId: string): Promise<void> {
  const from = probe.messages.length;
  const busy = (m: Received): boolean => {
    if (m.topic !== topics.telemetry(deviceId)) return false;
    const w = TelemetryWindowSchema.parse(m.payload);
    return w.inferences > 0 && w.variantId === variantId;
  };
  await probe.waitFor(busy, 10_000, from);
}

beforeAll(async () => {
  models.mlp = await writeModel('mlp');
  models.conv = await writeModel('conv');
  for (const [key, m] of Object.entries(models)) server.add(`/a/${key}.onnx`, m.bytes);
  await server.start();
  dataDir = await mkdtemp(join(tmpdir(), 'agent-forged-'));
  creds = await enrolledTestDevice(dataDir, deviceId, signer.rootPublicKey, 'f');
  await probe.connect(`${topics.deviceRoot(deviceId)}#`);
  capturedOld = signer.desired(state(2, null));
});

afterAll(async () => {
  await agent?.stop();
  await clearRetained(probe, deviceId);
  await probe.close();
  await server.stop();
});

describe('forged and replayed desired states on a broker anyone can write (Mosquitto, anonymous)', () => {
  it('row 27: issue 10 item 4: takes a genuine signed state and runs its model', async () => {
    await probe.publish(topics.desired(deviceId), signer.desired(state(3, 'mlp')), true);
    await startAgent();
    await probe.waitFor(reported((r) => r.appliedAssignmentVersion === 3 && r.phase === 'running'));
    await expectUnchanged(3, models.mlp.sha256);
  });

  it('row 27: issue 10 item 4: refuses each forged or replayed message, keeps its model and its watermark', async () => {
    const unsignedNull = { ...state(4, null) };
    const forgedDevice = randomUUID();
    const cases: [string, unknown, RegExp][] = [
      ['an unsigned `model: null`', unsignedNull, /not signed/],
      ['an unsigned state numbered 2,147,483,647', { ...state(MAX_INT, null) }, /not signed/],
      ['a genuinely signed state for another device', signer.desired(state(5, null, forgedDevice)), /another device/],
      [
        'a genuinely signed state numbered above its signed high-water mark',
        signer.desired(state(MAX_INT, null), { highWaterMark: 5 }),
        /above the control plane's signed high-water mark 5/,
      ],
      ['a replay of an older genuine state', capturedOld, /below the applied watermark 3/],
      [
        'a genuine state past its expiry',
        signer.desired(state(6, null), { expiresAt: new Date(Date.now() - 1_000).toISOString() }),
        /expired/,
      ],
      ['a state signed by a key the root never certified', new TestSigner().desired(state(7, null)), /root signature/],
    ];
    for (const [what, message, reason] of cases) {
      const from = logs.length;
      await probe.publish(topics.desired(deviceId), message, true);
      expect(await refusal(from), what).toMatch(reason);
      await expectUnchanged(3, models.mlp.sha256);
    }
    await runs('var-mlp'); // still serving the model it had
  });

  it('row 27: issue 10 item 4: takes the next genuine update after the forgeries', async () => {
    await probe.publish(topics.desired(deviceId), signer.desired(state(4, 'conv')), true);
    await probe.waitFor(
      reported((r) => r.appliedAssignmentVersion === 4 && r.active?.sha256 === models.conv.sha256 && r.phase === 'running'),
    );
    await expectUnchanged(4, models.conv.sha256);
  });

  it('row 27: issue 10 item 4: after a restart facing a retained forgery, keeps its model and takes the next genuine update', async () => {
    await agent?.stop();
    agent = null;
    // what the restarted agent reads first: a retained, unsigned unassign with the largest number
    await probe.publish(topics.desired(deviceId), { ...state(MAX_INT, null) }, true);
    const from = logs.length;
    const restarted = await startAgent();
    expect(await refusal(from)).toMatch(/not signed/);
    await probe.waitFor(reported((r) => r.bootId === restarted.bootId && r.phase === 'running'));
    await expectUnchanged(4, models.conv.sha256);
    await runs('var-conv');

    await probe.publish(topics.desired(deviceId), signer.desired(state(5, 'mlp')), true);
    await probe.waitFor(reported((r) => r.bootId === restarted.bootId && r.appliedAssignmentVersion === 5 && r.phase === 'running'));
    await expectUnchanged(5, models.mlp.sha256);
  });
});
