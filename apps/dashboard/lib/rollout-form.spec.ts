import { describe, expect, it } from 'vitest';
import {
  addWave,
  describeRolloutError,
  inputFromRolloutDraft,
  modelOptionLabel,
  newRolloutDraft,
  parseDeviceIds,
  parseLabels,
  removeWave,
  updateWave,
  wavePercentHint,
  type RolloutDraft,
} from './rollout-form';

const A = '0b6f3c0e-4b1a-4c2d-9e8f-0a1b2c3d4e5f';
const B = '1c7a4d1f-5c2b-4d3e-8f90-1b2c3d4e5f60';
const MODEL = '7d0c8e2a-1111-4222-8333-944455556666';

describe('parseDeviceIds', () => {
  it('takes one id per line, ignoring blank lines and surrounding spaces, each id once', () => {
    expect(parseDeviceIds(`${A}\n\n  ${B}  \r\n${A.toUpperCase()}\n`)).toEqual({ ok: true, value: [A, B] });
    expect(parseDeviceIds('  \n')).toEqual({ ok: true, value: [] });
  });

  it('names every bad line by its number', () => {
    expect(parseDeviceIds(`${A}\nnot-an-id\n\n${A}, ${B}`)).toEqual({
      ok: false,
      errors: [
        'line 2: "not-an-id" is not a device id (a UUID such as 0b6f…-…)',
        `line 4: "${`${A}, ${B}`.slice(0, 45)}…" is not a device id (a UUID such as 0b6f…-…)`,
      ],
    });
  });

  it('reports the first bad lines and how many more there are', () => {
    const r = parseDeviceIds(Array.from({ length: 8 }, (_, i) => `bad${i}`).join('\n'));
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.errors).toHaveLength(6);
      expect(r.errors[5]).toBe('… and 3 more bad lines');
    }
  });
});

describe('parseLabels', () => {
  it('splits key=value lines at the first "=" and trims both sides', () => {
    expect(parseLabels('site = north\n\nrack=3\nexpr=a=b\nempty=')).toEqual({
      ok: true,
      value: { site: 'north', rack: '3', expr: 'a=b', empty: '' },
    });
  });

  it('keeps a key such as __proto__ as a label rather than touching the prototype', () => {
    const r = parseLabels('__proto__=x');
    expect(r.ok && Object.keys(r.value)).toEqual(['__proto__']);
  });

  it('names lines without "=", without a key, too long, or repeating a key', () => {
    const r = parseLabels(`site=north\njust words\n=value\nsite=south\n${'k'.repeat(65)}=v\nv=${'x'.repeat(257)}`);
    expect(r).toEqual({
      ok: false,
      errors: [
        'line 2: "just words" is not key=value',
        'line 3: "=value" has no key before "="',
        'line 4: the label "site" is already given on line 1',
        'line 5: the key is longer than 64 characters',
        'line 6: the value of "v" is longer than 256 characters',
      ],
    });
  });
});

describe('inputFromRolloutDraft', () => {
  const draft = (over: Partial<RolloutDraft> = {}): RolloutDraft => ({
    ...newRolloutDraft(),
    modelVersionId: MODEL,
    scenario: 'financial_trading',
    ...over,
  });

  it('builds the create request, leaving out empty filters and an empty name', () => {
    expect(inputFromRolloutDraft(draft())).toEqual({
      ok: true,
      input: {
        modelVersionId: MODEL,
        target: { scenario: 'financial_trading' },
        waves: [
          { percent: 10, soakSeconds: 60, requireApproval: false },
          { percent: 40, soakSeconds: 120, requireApproval: false },
          { percent: 50, soakSeconds: 120, requireApproval: true },
        ],
        failurePolicy: 'rollback',
        notifyRatePerSecond: 100,
      },
    });
  });

  it('sends labels, device ids, counts and a name as typed', () => {
    const r = inputFromRolloutDraft(
      draft({
        name: '  canary of v2 ',
        scenario: '',
        labels: 'site=north',
        deviceIds: `${A}\n${B}`,
        waves: [
          { mode: 'count', amount: '1', soakSeconds: '30', requireApproval: false },
          { mode: 'percent', amount: '100', soakSeconds: '60', requireApproval: false },
        ],
        failurePolicy: 'pause',
        notifyRatePerSecond: '2.5',
      }),
    );
    expect(r).toEqual({
      ok: true,
      input: {
        name: 'canary of v2',
        modelVersionId: MODEL,
        target: { labels: { site: 'north' }, deviceIds: [A, B] },
        waves: [
          { count: 1, soakSeconds: 30, requireApproval: false },
          { percent: 100, soakSeconds: 60, requireApproval: false },
        ],
        failurePolicy: 'pause',
        notifyRatePerSecond: 2.5,
      },
    });
  });

  it('names the input that cannot be read, and leaves the rules to the server', () => {
    expect(inputFromRolloutDraft(draft({ modelVersionId: '' }))).toMatchObject({ ok: false, field: 'modelVersionId' });
    expect(inputFromRolloutDraft(draft({ deviceIds: 'nope' }))).toMatchObject({
      ok: false,
      field: 'deviceIds',
      message: expect.stringContaining('line 1') as unknown,
    });
    expect(inputFromRolloutDraft(draft({ labels: 'nope' }))).toMatchObject({ ok: false, field: 'labels' });
    expect(inputFromRolloutDraft(draft({ waves: [{ mode: 'count', amount: '', soakSeconds: '1', requireApproval: false }] }))).toEqual({
      ok: false,
      field: 'waves',
      message: 'wave 1: enter a number of devices',
    });
    expect(inputFromRolloutDraft(draft({ notifyRatePerSecond: 'fast' }))).toMatchObject({ ok: false, field: 'notifyRatePerSecond' });
    // 90 % in total and an empty target are for the control plane to refuse, in its own words
    expect(
      inputFromRolloutDraft(draft({ scenario: '', waves: [{ mode: 'percent', amount: '90', soakSeconds: '1', requireApproval: false }] })),
    ).toMatchObject({
      ok: true,
      input: { target: {}, waves: [{ percent: 90 }] },
    });
  });
});

describe('wave editing', () => {
  const waves = newRolloutDraft().waves;

  it('never asks approval for the first wave, even after the canary is removed', () => {
    expect(updateWave(waves, 0, { requireApproval: true })[0]?.requireApproval).toBe(false);
    const approved = { mode: 'percent', amount: '50', soakSeconds: '120', requireApproval: true } as const;
    expect(removeWave([...waves.slice(0, 1), approved], 0)).toEqual([{ ...approved, requireApproval: false }]);
  });

  it('adds a wave like the last one, with its size left to type', () => {
    expect(addWave(waves).at(-1)).toEqual({ mode: 'percent', amount: '', soakSeconds: '120', requireApproval: false });
  });

  it('says what the percentages add up to', () => {
    expect(wavePercentHint(waves)).toBe('The waves add up to 100 % of the target.');
    expect(wavePercentHint(updateWave(waves, 2, { amount: '40' }))).toBe(
      'The waves add up to 90 % of the target; they must add up to 100 %.',
    );
    expect(wavePercentHint(updateWave(waves, 2, { mode: 'count' }))).toBeNull();
  });
});

describe('describeRolloutError', () => {
  it('passes a plain refusal through word for word', () => {
    const message = 'the waves add up to 90 % of the target; they must add up to 100 %';
    expect(describeRolloutError(message)).toEqual({ text: message, fields: [] });
  });

  it('marks the field a message names as its prefix', () => {
    const message = `target.deviceIds: 1 unknown or revoked device(s): ${A}`;
    expect(describeRolloutError(message)).toEqual({ text: message, fields: ['deviceIds'] });
  });

  it('turns a validation error into path: problem, marking each field', () => {
    const message = JSON.stringify([
      {
        code: 'custom',
        path: ['waves', 0, 'requireApproval'],
        message: 'the first wave (the canary) starts at once; approval applies to later waves',
      },
      { code: 'custom', path: ['target'], message: 'the target is empty: give a scenario, labels or deviceIds' },
    ]);
    expect(describeRolloutError(message)).toEqual({
      text: 'waves.0.requireApproval: the first wave (the canary) starts at once; approval applies to later waves; target: the target is empty: give a scenario, labels or deviceIds',
      fields: ['waves', 'target'],
    });
  });
});

describe('modelOptionLabel', () => {
  it('says how many variants are ready', () => {
    expect(modelOptionLabel({ name: 'detector', version: '2', variants: [{ status: 'ready' }, { status: 'building' }] })).toBe(
      'detector 2 — 1 ready variant',
    );
    expect(modelOptionLabel({ name: 'detector', version: '3', variants: [{ status: 'failed' }] })).toBe(
      'detector 3 — no ready variant yet',
    );
  });
});
