import { randomUUID } from 'node:crypto';
import { type DesiredState, topics } from '@edge-fleet/shared';
import { waitFor } from '@edge-fleet/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentStateStore } from './storage/agent-state.store.js';
import { AgentFixture, testDesired } from './test-support/agent.fixture.js';
import { captureLogs } from './test-support/log.capture.js';
import { TestSigner } from './test-support/test-signer.js';

// RELIABILITY row 27 / issue 10 item 4. The probe may write to this device's desired topic (the
// worst case: an attacker holding a broker account that can), and plays that attacker.
const fx = new AgentFixture({ dataDirPrefix: 'agent-forged-', secretChar: 'f', models: { mlp: 'mlp', conv: 'conv' } });
const { deviceId, signer, probe, models } = fx;
const { logger, logs } = captureLogs<{ msg: string; reason?: string }>('warn');
/** A genuine state the control plane issued earlier (unassign, number 2), captured off the broker by the attacker. */
let capturedOld: unknown;

const MAX_INT = 2_147_483_647;

function state(version: number, which: keyof typeof models | null, forDevice = deviceId): DesiredState {
  const served = which === null ? null : fx.served.served(which);
  return testDesired(signer, forDevice, version, served, { reason: 'forged desired state test' });
}

const reported = fx.reported.bind(fx);
const startAgent = () => fx.startAgent({ logger, seed: 11 });

async function refusal(from: number): Promise<string> {
  const poll = () => logs.slice(from).find((l) => l.msg === 'desired state refused');
  const hit = await waitFor(poll, 10_000, 'the agent to refuse the message', { intervalMs: 25 });
  return hit.reason ?? '';
}

/** What must not move: the model loaded and serving, and the watermark in memory and on disk. */
async function expectUnchanged(version: number, sha256: string): Promise<void> {
  expect(fx.agent?.reportedState()).toMatchObject({ appliedAssignmentVersion: version, phase: 'running', active: { sha256 } });
  expect((await new AgentStateStore(fx.dataDir).load()).watermark).toBe(version);
}

async function runs(variantId: string): Promise<void> {
  await probe.waitFor(fx.busyTelemetry(variantId), 10_000, probe.messages.length);
}

beforeAll(async () => {
  await fx.setUp();
  capturedOld = signer.desired(state(2, null));
});
afterAll(() => fx.tearDown());

describe('forged and replayed desired states from whoever can write the desired topic', () => {
  it('row 27: issue 10 item 4: takes a genuine signed state and runs its model', async () => {
    await fx.publishDesired(state(3, 'mlp'));
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
    await fx.publishDesired(state(4, 'conv'));
    await probe.waitFor(
      reported((r) => r.appliedAssignmentVersion === 4 && r.active?.sha256 === models.conv.sha256 && r.phase === 'running'),
    );
    await expectUnchanged(4, models.conv.sha256);
  });

  it('row 27: issue 10 item 4: after a restart facing a retained forgery, keeps its model and takes the next genuine update', async () => {
    await fx.stopAgent();
    // what the restarted agent reads first: a retained, unsigned unassign with the largest number
    await probe.publish(topics.desired(deviceId), { ...state(MAX_INT, null) }, true);
    const from = logs.length;
    const restarted = await startAgent();
    expect(await refusal(from)).toMatch(/not signed/);
    await probe.waitFor(reported((r) => r.bootId === restarted.bootId && r.phase === 'running'));
    await expectUnchanged(4, models.conv.sha256);
    await runs('var-conv');

    await fx.publishDesired(state(5, 'mlp'));
    await probe.waitFor(reported((r) => r.bootId === restarted.bootId && r.appliedAssignmentVersion === 5 && r.phase === 'running'));
    await expectUnchanged(5, models.mlp.sha256);
  });

  it('a signing-key rotation revokes the old key: after a state under serial 2, a genuine old-key state is refused, also after a restart', async () => {
    const rotated = signer.rotated();
    await probe.publish(topics.desired(deviceId), rotated.desired(state(6, 'conv')), true);
    await probe.waitFor(reported((r) => r.appliedAssignmentVersion === 6 && r.phase === 'running'));
    await waitFor(async () => ((await fx.agent?.keyFloorFlushed()) === 2 ? true : undefined), 5_000, 'the raised floor on disk');
    // the old key still verifies up to the root, but the device has seen serial 2
    let from = logs.length;
    await fx.publishDesired(state(7, 'mlp'));
    expect(await refusal(from)).toMatch(/signed by key serial 1, rotated out: this device trusts serial 2 and later/);
    await expectUnchanged(6, models.conv.sha256);
    // a restart keeps the floor (trust.json), facing the same retained old-key state
    await fx.stopAgent();
    from = logs.length;
    await startAgent();
    expect(await refusal(from)).toMatch(/rotated out/);
    await expectUnchanged(6, models.conv.sha256);
    await probe.publish(topics.desired(deviceId), rotated.desired(state(8, 'mlp')), true);
    await probe.waitFor(reported((r) => r.appliedAssignmentVersion === 8 && r.phase === 'running'));
  });
});
