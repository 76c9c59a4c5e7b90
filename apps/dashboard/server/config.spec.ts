import { describe, expect, it } from 'vitest';
import { parseConfig } from './config';
import { isProcedurePath } from './control-plane';

describe('parseConfig', () => {
  it('defaults CONTROL_PLANE_URL and strips a trailing slash', () => {
    expect(parseConfig({}).CONTROL_PLANE_URL).toBe('http://127.0.0.1:8080');
    expect(parseConfig({ CONTROL_PLANE_URL: 'http://cp.local:9000/' }).CONTROL_PLANE_URL).toBe('http://cp.local:9000');
  });

  it('rejects a bad value with a message naming the variable', () => {
    expect(() => parseConfig({ CONTROL_PLANE_URL: 'not a url' })).toThrow(/CONTROL_PLANE_URL/);
    expect(() => parseConfig({ CONTROL_PLANE_URL: 'ftp://cp.local' })).toThrow(/CONTROL_PLANE_URL/);
  });
});

describe('isProcedurePath', () => {
  it('accepts single and batched procedure paths', () => {
    expect(isProcedurePath('fleet.overview')).toBe(true);
    expect(isProcedurePath('devices.get,devices.telemetry')).toBe(true);
  });

  it('refuses anything that could leave /trpc on the control plane', () => {
    expect(isProcedurePath('../api/v1/devices')).toBe(false);
    expect(isProcedurePath('fleet.overview/../x')).toBe(false);
    expect(isProcedurePath('')).toBe(false);
    expect(isProcedurePath('a?b=1')).toBe(false);
  });
});
