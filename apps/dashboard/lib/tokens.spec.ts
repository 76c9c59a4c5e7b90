import { describe, expect, it } from 'vitest';
import { canChange, scopeLabel, tokenInput } from './tokens';

const NOW = Date.parse('2026-12-06T12:00:00Z');

describe('tokenInput', () => {
  it('turns the form into a tokens.create input: scope as checked, expiry as an instant', () => {
    const r = tokenInput(
      { name: ' ci ', role: 'operator', scenarios: ['robotic_manipulation'], labels: '', expiresLocal: '2027-01-01T00:00' },
      NOW,
    );
    expect(r).toEqual({
      input: {
        name: 'ci',
        role: 'operator',
        scenarios: ['robotic_manipulation'],
        labels: {},
        expiresAt: new Date('2027-01-01T00:00').toISOString(),
      },
    });
    expect(tokenInput({ name: 'n', role: 'auditor', scenarios: [], labels: '', expiresLocal: '' }, NOW)).toEqual({
      input: { name: 'n', role: 'auditor', scenarios: [], labels: {} },
    });
  });

  it('names the field of each problem: empty name, unknown role or scenario, an expiry in the past', () => {
    const errors = (d: Parameters<typeof tokenInput>[0]) => {
      const r = tokenInput(d, NOW);
      return 'errors' in r ? r.errors.join('; ') : '';
    };
    expect(errors({ name: '', role: 'viewer', scenarios: [], labels: '', expiresLocal: '' })).toMatch(/^name:/);
    expect(errors({ name: 'x', role: 'root', scenarios: [], labels: '', expiresLocal: '' })).toMatch(/^role:/);
    expect(errors({ name: 'x', role: 'viewer', scenarios: ['mars'], labels: '', expiresLocal: '' })).toMatch(/^scenarios\.0:/);
    expect(errors({ name: 'x', role: 'viewer', scenarios: [], labels: '', expiresLocal: '2026-01-01T00:00' })).toBe(
      'expires: must be in the future',
    );
    expect(errors({ name: 'x', role: 'viewer', scenarios: [], labels: '', expiresLocal: 'soon' })).toBe('expires: not a date and time');
  });
});

describe('token label scope in the create form', () => {
  it('reads key=value pairs separated by commas into the labels of tokens.create', () => {
    const r = tokenInput({ name: 'berlin', role: 'operator', scenarios: [], labels: ' site = berlin, rack=7 ,', expiresLocal: '' }, NOW);
    expect(r).toEqual({ input: { name: 'berlin', role: 'operator', scenarios: [], labels: { site: 'berlin', rack: '7' } } });
  });

  it('names a pair that is not key=value, and nothing is sent', () => {
    const r = tokenInput({ name: 'x', role: 'operator', scenarios: [], labels: 'site=berlin, berlin', expiresLocal: '' }, NOW);
    expect(r).toEqual({ errors: ['labels: "berlin" is not key=value'] });
    expect(tokenInput({ name: 'x', role: 'operator', scenarios: [], labels: '=x', expiresLocal: '' }, NOW)).toEqual({
      errors: ['labels: "=x" is not key=value'],
    });
  });
});

describe('token list helpers', () => {
  it('says "whole fleet" for an unscoped token, else the scenarios', () => {
    expect(scopeLabel({ scenarios: [], labels: {} })).toBe('whole fleet');
    expect(scopeLabel({ scenarios: ['robotic_manipulation', 'data_analysis_agent'], labels: {} })).toBe(
      'robotic manipulation, data analysis agent',
    );
    expect(scopeLabel({ scenarios: ['robotic_manipulation'], labels: { site: 'berlin' } })).toBe(
      'robotic manipulation; devices labelled site=berlin',
    );
    expect(scopeLabel({ scenarios: [], labels: { site: 'berlin', rack: '7' } })).toBe('devices labelled site=berlin, rack=7');
  });

  it('offers rotate and revoke only for an active token', () => {
    expect(canChange({ status: 'active' })).toBe(true);
    expect(canChange({ status: 'revoked' })).toBe(false);
    expect(canChange({ status: 'expired' })).toBe(false);
  });
});
