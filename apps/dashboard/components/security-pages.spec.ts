import { createElement } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import type { ApiToken } from '@/lib/api-types';
import { AuditTable, VerifyResult } from './audit-log';
import { TokenSecret, TokenTable } from './token-manager';

const token: ApiToken = {
  id: '6f1c2d1e-0000-4000-8000-000000000001',
  name: 'ci <pipeline>',
  role: 'operator',
  scenarios: ['robotic_manipulation'],
  labels: { site: 'berlin' },
  prefix: 'eft_op_AbCdE',
  status: 'revoked',
  createdAt: '2026-12-06T06:00:00.000Z',
  expiresAt: null,
  rotatedAt: null,
  lastUsedAt: '2026-12-06T06:05:00.000Z',
  revokedAt: '2026-12-06T06:10:00.000Z',
};

describe('tokens page', () => {
  it('lists a token by prefix, role, scope, status, expiry and last use; a revoked token offers no actions', () => {
    const html = renderToStaticMarkup(createElement(TokenTable, { items: [token], onSecret: () => undefined }));
    expect(html).toContain('eft_op_AbCdE…');
    expect(html).toContain('robotic manipulation; devices labelled site=berlin');
    expect(html).toContain('status-revoked');
    expect(html).toContain('never');
    expect(html).toContain('2026-12-06 06:05:00 UTC');
    expect(html).toContain('ci &lt;pipeline&gt;');
    expect(html).not.toContain('token-rotate');
  });

  it('shows a new secret once, in full', () => {
    const html = renderToStaticMarkup(
      createElement(TokenSecret, { created: { token, secret: 'eft_op_AbCdEfGh' }, onDone: () => undefined }),
    );
    expect(html).toContain('eft_op_AbCdEfGh');
    expect(html).toContain('not shown again');
  });
});

describe('audit page', () => {
  it('shows each event with its actor, action, target and details as text', () => {
    const html = renderToStaticMarkup(
      createElement(AuditTable, {
        items: [
          {
            id: '7',
            at: '2026-12-06T06:00:00.000Z',
            actor: 'operator:abc',
            action: 'auth.denied',
            targetType: 'request',
            targetId: 'GET /api/v1/tokens',
            details: { reason: '<b>no</b>' },
            prevHash: null,
            hash: 'h',
          },
        ],
      }),
    );
    expect(html).toContain('auth.denied');
    expect(html).toContain('GET /api/v1/tokens');
    expect(html).not.toContain('<b>no</b>');
  });

  it('shows an intact chain as a status and a broken one as an alert naming the event', () => {
    expect(
      renderToStaticMarkup(createElement(VerifyResult, { v: { ok: true, checked: 3, beforeChain: 0, last: null, firstBroken: null } })),
    ).toContain('role="status"');
    const broken = renderToStaticMarkup(
      createElement(VerifyResult, {
        v: { ok: false, checked: 3, beforeChain: 0, last: null, firstBroken: { id: '9', reason: 'changed' } },
      }),
    );
    expect(broken).toContain('role="alert"');
    expect(broken).toContain('Broken at event 9');
  });
});
