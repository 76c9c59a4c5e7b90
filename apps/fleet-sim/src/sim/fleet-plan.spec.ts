import { describe, expect, it } from 'vitest';
import { parseSimArgs } from '../cli/cli-args.js';
import { autoSourceAddresses } from './fleet.js';
import { planFleet } from './fleet-mix.js';
import { brokerAddress, decideUpdate } from '@edge-fleet/test-utils/virtual-device';
import { updateDelays } from './update.plan.js';

const model = { modelVersionId: 'mv', variantId: 'v', precision: 'fp32' as const, sha256: 'a'.repeat(64), sizeBytes: 1_000_000 };

describe('fleet plan', () => {
  it('spreads an even mix round-robin over the six scenarios on their usual hardware', () => {
    const plan = planFleet(12, { kind: 'even' }, 1);
    expect(new Set(plan.map((p) => p.scenario)).size).toBe(6);
    expect(plan[0]).toMatchObject({ scenario: 'financial_trading', preset: 'edge-npu-trading' });
    expect(plan[6]?.scenario).toBe(plan[0]?.scenario);
  });

  it('adds loopback source addresses only when one address would run out of ephemeral ports', () => {
    expect(autoSourceAddresses(10_000, 28_232)).toEqual(['127.0.0.1']);
    expect(autoSourceAddresses(50_000, 28_232)).toEqual(['127.0.0.1', '127.0.0.2']);
    expect(brokerAddress('mqtt://localhost:1884')).toEqual({ host: '127.0.0.1', port: 1884 });
    expect(() => brokerAddress('ws://127.0.0.1:8080')).toThrow(/mqtt:\/\//);
  });
});

describe('update decisions', () => {
  it('ignores versions at or below the watermark, clears on a null model, skips a download of the running model', () => {
    expect(decideUpdate({ assignmentVersion: 2, model }, 2, null)).toEqual({ kind: 'none' });
    expect(decideUpdate({ assignmentVersion: 3, model: null }, 2, 'x')).toEqual({ kind: 'clear' });
    expect(decideUpdate({ assignmentVersion: 3, model }, 2, model.sha256)).toEqual({ kind: 'same-model', model });
    expect(decideUpdate({ assignmentVersion: 1, model }, null, null)).toEqual({ kind: 'install', model });
  });

  it('scales update step times with the model size, and makes them instant at time scale 0', () => {
    const d = updateDelays(model, 1, 0.5);
    expect(d.downloadMs).toBeCloseTo(20 + 80, 6);
    expect(updateDelays(model, 0, 0.5)).toEqual({ downloadMs: 0, verifyMs: 0, activateMs: 0 });
  });
});

describe('CLI arguments', () => {
  it('parses fault shares and a source address list', () => {
    const r = parseSimArgs([
      '--url',
      'http://127.0.0.1:8080',
      '--devices',
      '200',
      '--slow',
      '0.1',
      '--flap',
      '0.05',
      '--source-addresses',
      '127.0.0.2,127.0.0.3',
    ]);
    expect(r.ok && r.value).toMatchObject({
      devices: 200,
      faults: { slow: 0.1, flap: 0.05, silent: 0 },
      sourceAddresses: ['127.0.0.2', '127.0.0.3'],
      scenarioMix: { kind: 'even' },
    });
  });

  it('takes the literal -- that `pnpm sim -- …` passes first, and only there', () => {
    const r = parseSimArgs(['--', '--url', 'http://127.0.0.1:8080', '--devices', '3']);
    expect(r.ok && r.value).toMatchObject({ devices: 3 });
    const later = parseSimArgs(['--url', 'http://127.0.0.1:8080', '--', '--devices', '3']);
    expect(later.ok).toBe(false);
  });

  it('names the flag that is wrong', () => {
    const bad = parseSimArgs(['--url', 'http://127.0.0.1:8080', '--devices', '10', '--slow', '2']);
    expect(!bad.ok && bad.message).toMatch(/--slow must be <= 1/);
    const mix = parseSimArgs(['--url', 'http://127.0.0.1:8080', '--devices', '10', '--scenario-mix', 'weird']);
    expect(!mix.ok && mix.message).toMatch(/--scenario-mix must be/);
    const none = parseSimArgs(['--url', 'http://127.0.0.1:8080']);
    expect(!none.ok && none.message).toMatch(/--devices/);
    const addr = parseSimArgs(['--url', 'http://127.0.0.1:8080', '--devices', '1', '--source-addresses', '127.0.0.x']);
    expect(!addr.ok && addr.message).toMatch(/not an IPv4 address/);
  });
});
