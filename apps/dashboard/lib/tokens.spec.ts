import { describe, expect, it } from 'vitest';
import { canChange, scopeLabel, tokenInput } from './tokens';

const NOW = Date.parse('2026-12-06T12:00:00Z');

describe('tokenInput', () => {
  it('turns the form into a tokens.create input: scope as checked, expiry as an instant', () => {
    const r = tokenInput({ name: ' ci ', role: 'operator', scenarios: ['robotic_manipulation'], expiresLocal: '2027-01-01T00:00' }, NOW);
    expect(r).toEqual({
      input: { name: 'ci', role: 'operator', scenarios: ['robotic_manipulation'], expiresAt: new Date('2027-01-01T00:00').toISOString() },
    });
    expect(tokenInput({ name: 'n', role: 'auditor', scenarios: [], expiresLocal: '' }, NOW)).toEqual({
      input: { name: 'n', role: 'auditor', scenarios: [] },
    });
  });

  it('names the field of each problem: empty name, unknown role or scenario, an expiry in the past', () => {
    const errors = (d: Parameters<typeof tokenInput>[0]) => {
      const r = tokenInput(d, NOW);
      return 'errors' in r ? r.errors.join('; ') : '';
    };
    expect(errors({ name: '', role: 'viewer', scenarios: [], expiresLocal: '' })).toMatch(/^name:/);
    expect(errors({ name: 'x', role: 'root', scenarios: [], expiresLocal: '' })).toMatch(/^role:/);
    expect(errors({ name: 'x', role: 'viewer', scenarios: ['mars'], expiresLocal: '' })).toMatch(/^scenarios\.0:/);
    expect(errors({ name: 'x', role: 'viewer', scenarios: [], expiresLocal: '2026-01-01T00:00' })).toBe('expires: must be in the future');
    expect(errors({ name: 'x', role: 'viewer', scenarios: [], expiresLocal: 'soon' })).toBe('expires: not a date and time');
  });
});

describe('token list helpers', () => {
  it('says "whole fleet" for an unscoped token, else the scenarios', () => {
    expect(scopeLabel({ scenarios: [] })).toBe('whole fleet');
    expect(scopeLabel({ scenarios: ['robotic_manipulation', 'data_analysis_agent'] })).toBe('robotic manipulation, data analysis agent');
  });

  it('offers rotate and revoke only for an active token', () => {
    expect(canChange({ status: 'active' })).toBe(true);
    expect(canChange({ status: 'revoked' })).toBe(false);
    expect(canChange({ status: 'expired' })).toBe(false);
  });
});
