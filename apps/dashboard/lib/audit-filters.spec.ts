import { describe, expect, it } from 'vitest';
import { AUDIT_PAGE_SIZE, auditQuery, EMPTY_AUDIT_FILTERS, verificationText } from './audit-filters';

describe('auditQuery', () => {
  it('sends only the filters filled in, trimmed, with times as instants and the page cursor', () => {
    expect(auditQuery(EMPTY_AUDIT_FILTERS)).toEqual({ input: { limit: AUDIT_PAGE_SIZE } });
    const r = auditQuery(
      { ...EMPTY_AUDIT_FILTERS, action: ' api_token.revoke ', targetId: 'd-1', fromLocal: '2026-12-01T00:00', toLocal: '2026-12-02T00:00' },
      42,
    );
    expect(r).toEqual({
      input: {
        limit: AUDIT_PAGE_SIZE,
        action: 'api_token.revoke',
        targetId: 'd-1',
        from: new Date('2026-12-01T00:00').toISOString(),
        to: new Date('2026-12-02T00:00').toISOString(),
        before: 42,
      },
    });
  });

  it('refuses an unreadable time or a range that ends before it starts, naming the field', () => {
    expect(auditQuery({ ...EMPTY_AUDIT_FILTERS, fromLocal: 'yesterday' })).toEqual({ error: 'from: not a date and time' });
    expect(auditQuery({ ...EMPTY_AUDIT_FILTERS, fromLocal: '2026-12-02T00:00', toLocal: '2026-12-01T00:00' })).toEqual({
      error: 'to: must be after from',
    });
  });
});

describe('verificationText', () => {
  it('says the chain is intact, and how much of the log it covers', () => {
    expect(verificationText({ ok: true, checked: 12, beforeChain: 0, firstBroken: null })).toBe(
      'Intact: 12 event(s) recomputed, every hash matches',
    );
    expect(verificationText({ ok: true, checked: 12, beforeChain: 3, firstBroken: null })).toContain('3 older event(s) predate the chain');
  });

  it('names the first broken link and why', () => {
    const text = verificationText({ ok: false, checked: 4, beforeChain: 0, firstBroken: { id: '5', reason: 'the event was changed' } });
    expect(text).toBe('Broken at event 5: the event was changed (4 event(s) verified before it)');
  });
});
