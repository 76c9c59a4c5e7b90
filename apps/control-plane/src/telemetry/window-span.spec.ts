import { AlertRuleSettingsSchema } from '@edge-fleet/shared/api';
import { describe, expect, it } from 'vitest';
import { LOOKBACK_MAX_SECONDS } from '../alerts/alert-evaluation.repository.js';
import { loadConfig } from '../config.js';
import { FUTURE_START_MAX_MS, WINDOW_SPAN_MAX_MS } from './window-span.js';

// the bounded reads (bounded-reads.int.spec.ts) are exact only while these caps hold
describe('the caps the bounded telemetry reads rest on', () => {
  it('no window the ingest accepts spans more than WINDOW_SPAN_MAX_MS: the config refuses a longer TELEMETRY_MAX_WINDOW_SECONDS', () => {
    expect(loadConfig({ TELEMETRY_MAX_WINDOW_SECONDS: String(WINDOW_SPAN_MAX_MS / 1_000) }).TELEMETRY_MAX_WINDOW_SECONDS).toBe(86_400);
    expect(() => loadConfig({ TELEMETRY_MAX_WINDOW_SECONDS: String(WINDOW_SPAN_MAX_MS / 1_000 + 1) })).toThrow(
      /TELEMETRY_MAX_WINDOW_SECONDS/,
    );
  });

  it('no window the ingest accepts starts FUTURE_START_MAX_MS ahead: the config refuses a TELEMETRY_FUTURE_SKEW_SECONDS that would let one, a day kept for clocks', () => {
    const cap = FUTURE_START_MAX_MS / 1_000 - 86_400;
    expect(loadConfig({ TELEMETRY_FUTURE_SKEW_SECONDS: String(cap) }).TELEMETRY_FUTURE_SKEW_SECONDS).toBe(cap);
    expect(() => loadConfig({ TELEMETRY_FUTURE_SKEW_SECONDS: String(cap + 1) })).toThrow(/TELEMETRY_FUTURE_SKEW_SECONDS/);
  });

  it("no alert rule looks back further than the alert pass's partition bound (LOOKBACK_MAX_SECONDS)", () => {
    const rule = { name: 'r', metric: 'error_rate', threshold: 0.1 };
    expect(AlertRuleSettingsSchema.parse({ ...rule, lookbackSeconds: LOOKBACK_MAX_SECONDS }).lookbackSeconds).toBe(LOOKBACK_MAX_SECONDS);
    expect(AlertRuleSettingsSchema.safeParse({ ...rule, lookbackSeconds: LOOKBACK_MAX_SECONDS + 1 }).success).toBe(false);
  });
});
