import { describe, expect, it } from 'vitest';
import { navLinksFor } from './nav';

describe('navLinksFor', () => {
  const labels = (role: Parameters<typeof navLinksFor>[0]) => navLinksFor(role).map((l) => l.label);

  it('shows the audit to auditors and admins, tokens to admins only', () => {
    expect(labels('admin')).toEqual(expect.arrayContaining(['Audit', 'Tokens']));
    expect(labels('auditor')).toContain('Audit');
    expect(labels('auditor')).not.toContain('Tokens');
    for (const role of ['viewer', 'operator'] as const) expect(labels(role)).not.toEqual(expect.arrayContaining(['Audit']));
    expect(labels('operator')).not.toContain('Tokens');
  });

  it('before the role is known, shows only the links every role may use', () => {
    expect(labels(undefined)).not.toContain('Audit');
    expect(labels(undefined)).not.toContain('Tokens');
    expect(labels(undefined)).toContain('Devices');
  });
});
