import { describe, expect, it } from 'vitest';
import { filtersFromQuery, filtersToQuery, listInput } from './device-filters';

describe('device filters', () => {
  it('reads known filters from the query and ignores unknown values', () => {
    expect(filtersFromQuery({ scenario: 'financial_trading', status: 'bogus', page: '3' })).toEqual({
      scenario: 'financial_trading',
      status: null,
      search: '',
      page: 3,
    });
    expect(filtersFromQuery({ page: '-2' }).page).toBe(1);
  });

  it('round-trips through the URL query', () => {
    const f = { scenario: 'autonomous_driving' as const, status: 'online' as const, search: 'cam 1', page: 2 };
    expect(filtersFromQuery(Object.fromEntries(new URLSearchParams(filtersToQuery(f))))).toEqual(f);
    expect(filtersToQuery({ scenario: null, status: null, search: '  ', page: 1 })).toBe('');
  });

  it('never sends an empty search to the API (the API requires at least one character)', () => {
    expect(listInput({ scenario: null, status: null, search: '   ', page: 1 }).search).toBeUndefined();
  });
});
