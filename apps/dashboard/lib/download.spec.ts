import { describe, expect, it } from 'vitest';
import { policyExportFileName, yamlDataUrl } from './download';

describe('YAML download', () => {
  it('encodes the whole document, including characters that would end or split a URL', () => {
    const yaml = 'deployment_strategy:\n  high_risk: # p99 < 10ms & more?\n';
    const url = yamlDataUrl(yaml);
    expect(url.startsWith('data:application/yaml;charset=utf-8,')).toBe(true);
    expect(url).not.toMatch(/[\n#?& ]/);
    expect(decodeURIComponent(url.slice(url.indexOf(',') + 1))).toBe(yaml);
  });

  it('names the file by date', () => {
    expect(policyExportFileName(new Date(Date.UTC(2026, 0, 31, 23, 59)))).toBe('edge-fleet-policies-2026-01-31.yaml');
  });
});
