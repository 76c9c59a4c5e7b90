import { describe, expect, it } from 'vitest';
import { DEFAULT_CACHE_TTL_MS, effectiveResultCache } from './serve.settings.js';

describe('the result cache the agent runs (scenario policy, capped by the device flags)', () => {
  it('the policy decides: on with its entries and TTL, off when it says 0, whatever the flags allow', () => {
    expect(effectiveResultCache({ entries: 256, ttlMs: 30_000 }, {})).toEqual({ entries: 256, ttlMs: 30_000 });
    expect(effectiveResultCache({ entries: 0, ttlMs: 30_000 }, { cacheEntries: 1_000 })).toBeNull();
  });

  it('the device flags cap the policy (memory is the device’s call), and --serve-cache-entries 0 keeps it off', () => {
    expect(effectiveResultCache({ entries: 256, ttlMs: 30_000 }, { cacheEntries: 64, cacheTtlMs: 5_000 })).toEqual({
      entries: 64,
      ttlMs: 5_000,
    });
    expect(effectiveResultCache({ entries: 256, ttlMs: 30_000 }, { cacheEntries: 0 })).toBeNull();
  });

  it('without a policy setting (no desired state yet, an older control plane) the flags are the setting; off by default', () => {
    expect(effectiveResultCache(null, {})).toBeNull();
    expect(effectiveResultCache(null, { cacheEntries: 16 })).toEqual({ entries: 16, ttlMs: DEFAULT_CACHE_TTL_MS });
  });
});
