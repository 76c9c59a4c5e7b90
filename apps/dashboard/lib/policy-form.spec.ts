import { describe, expect, it } from 'vitest';
import {
  describePolicyError,
  draftFromPolicy,
  groupByTier,
  inputFromDraft,
  movePrecision,
  precisionChoices,
  togglePrecision,
  type PolicyRow,
} from './policy-form';

const trading: PolicyRow = {
  scenario: 'financial_trading',
  tier: 'high',
  latencyTargetMs: 10,
  latencyPercentile: 'p99',
  location: 'edge',
  precisionOrder: ['fp16', 'fp32'],
  memoryPlacement: 'SRAM+DRAM',
  errorRateMax: 0.0001,
  powerBudgetW: null,
  accuracyFloor: 0.999,
  resultCache: { entries: 0, ttlMs: 60_000 },
};

describe('precision order editing', () => {
  it('adds a newly ticked precision as the least preferred and drops an unticked one', () => {
    expect(togglePrecision(['fp16', 'fp32'], 'int8')).toEqual(['fp16', 'fp32', 'int8']);
    expect(togglePrecision(['fp16', 'fp32', 'int8'], 'fp32')).toEqual(['fp16', 'int8']);
  });

  it('moves a precision up or down one place and leaves the ends alone', () => {
    expect(movePrecision(['int8', 'fp16', 'fp32'], 'fp32', -1)).toEqual(['int8', 'fp32', 'fp16']);
    expect(movePrecision(['int8', 'fp16', 'fp32'], 'int8', 1)).toEqual(['fp16', 'int8', 'fp32']);
    expect(movePrecision(['int8', 'fp16'], 'int8', -1)).toEqual(['int8', 'fp16']);
    expect(movePrecision(['int8', 'fp16'], 'fp16', 1)).toEqual(['int8', 'fp16']);
    expect(movePrecision(['int8'], 'fp32', 1)).toEqual(['int8']);
  });

  it('lists chosen precisions by rank, then the rest unranked', () => {
    expect(precisionChoices(['fp16', 'fp32'])).toEqual([
      { precision: 'fp16', rank: 1 },
      { precision: 'fp32', rank: 2 },
      { precision: 'int8', rank: null },
      { precision: 'int4', rank: null },
    ]);
  });
});

describe('inputFromDraft', () => {
  it('sends the result cache as numbers, and names the field when it is not one', () => {
    const on = inputFromDraft('financial_trading', { ...draftFromPolicy(trading), cacheEntries: '256', cacheTtlMs: '30000' });
    expect(on).toMatchObject({ ok: true, input: { resultCache: { entries: 256, ttlMs: 30_000 } } });
    expect(inputFromDraft('financial_trading', { ...draftFromPolicy(trading), cacheEntries: '' })).toMatchObject({
      ok: false,
      field: 'resultCache',
    });
  });

  it('round-trips a policy through the form unchanged, with an empty power budget meaning none', () => {
    const draft = draftFromPolicy(trading);
    expect(draft.powerBudgetW).toBe('');
    expect(inputFromDraft('financial_trading', draft)).toEqual({ ok: true, input: trading });
  });

  it('sends a power budget in watts when one is typed', () => {
    const r = inputFromDraft('financial_trading', { ...draftFromPolicy(trading), powerBudgetW: ' 7.5 ' });
    expect(r.ok && r.input.powerBudgetW).toBe(7.5);
  });

  it('names the field that is not a number, and leaves range checks to the server', () => {
    expect(inputFromDraft('financial_trading', { ...draftFromPolicy(trading), latencyTargetMs: '' })).toMatchObject({
      ok: false,
      field: 'latencyTargetMs',
    });
    expect(inputFromDraft('financial_trading', { ...draftFromPolicy(trading), powerBudgetW: 'lots' })).toMatchObject({
      ok: false,
      field: 'powerBudgetW',
    });
    expect(inputFromDraft('financial_trading', { ...draftFromPolicy(trading), errorRateMax: '2' })).toMatchObject({
      ok: true,
      input: { errorRateMax: 2 },
    });
  });
});

describe('describePolicyError', () => {
  it('labels each refused field of a validation error', () => {
    const message = JSON.stringify([{ code: 'too_big', path: ['errorRateMax'], message: 'Too big: expected number to be <=1' }], null, 2);
    expect(describePolicyError(message)).toEqual({
      text: 'Max error rate (errorRateMax): Too big: expected number to be <=1',
      fields: ['errorRateMax'],
    });
  });

  it('passes a plain server message through', () => {
    expect(describePolicyError('policy not found: x')).toEqual({ text: 'policy not found: x', fields: [] });
  });
});

describe('groupByTier', () => {
  it('groups high risk first and keeps an unknown tier visible at the end', () => {
    const rows = [
      { scenario: 'b', tier: 'low' },
      { scenario: 'z', tier: 'high' },
      { scenario: 'a', tier: 'high' },
      { scenario: 'c', tier: 'extreme' },
    ];
    expect(groupByTier(rows).map((g) => [g.tier, g.rows.map((r) => r.scenario)])).toEqual([
      ['high', ['a', 'z']],
      ['low', ['b']],
      ['extreme', ['c']],
    ]);
  });
});
