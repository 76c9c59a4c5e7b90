import { describe, expect, it } from 'vitest';
import {
  formatAgo,
  formatBytes,
  formatLatencyTarget,
  formatMegabytes,
  formatMs,
  formatPercent,
  formatPower,
  powerSourceLabel,
} from './format';

describe('formatMs', () => {
  it('keeps precision where it matters and shows a dash for missing figures', () => {
    expect(formatMs(0.456)).toBe('0.46 ms');
    expect(formatMs(12.345)).toBe('12.3 ms');
    expect(formatMs(1234.5)).toBe('1235 ms');
    expect(formatMs(null)).toBe('—');
    expect(formatMs(Number.NaN)).toBe('—');
  });
});

describe('formatPercent', () => {
  it('turns a rate into a percentage without rounding tiny error rates to zero', () => {
    expect(formatPercent(0)).toBe('0 %');
    expect(formatPercent(0.0123)).toBe('1.23 %');
    expect(formatPercent(0.00005)).toBe('0.0050 %');
    expect(formatPercent(0.5)).toBe('50.0 %');
    expect(formatPercent(undefined)).toBe('—');
  });
});

describe('formatPower', () => {
  it('always states the source of the figure', () => {
    expect(formatPower(3.14, 'estimate')).toBe('3.1 W (estimate)');
    expect(formatPower(120.4, 'sensor')).toBe('120 W (sensor)');
    expect(formatPower(null, 'sensor')).toBe('—');
  });

  it('labels estimates as coming from the hardware profile', () => {
    expect(powerSourceLabel('estimate')).toBe('estimate from hardware profile');
    expect(powerSourceLabel('sensor')).toBe('sensor');
  });
});

describe('sizes and targets', () => {
  it('formats byte counts and megabytes', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.5 KB');
    expect(formatBytes(5 * 1024 * 1024)).toBe('5.0 MB');
    expect(formatMegabytes(8)).toBe('8 MB');
    expect(formatMegabytes(4096)).toBe('4 GB');
  });

  it('formats a latency target with its percentile', () => {
    expect(formatLatencyTarget('p99', 10)).toBe('p99 < 10 ms');
  });
});

describe('formatAgo', () => {
  const now = Date.UTC(2026, 0, 1, 12, 0, 0);
  it('describes how long ago a device was seen', () => {
    expect(formatAgo(new Date(now - 5_000).toISOString(), now)).toBe('5 s ago');
    expect(formatAgo(new Date(now - 5 * 60_000).toISOString(), now)).toBe('5 min ago');
    expect(formatAgo(new Date(now - 3 * 3_600_000).toISOString(), now)).toBe('3 h ago');
    expect(formatAgo(null, now)).toBe('never');
  });
});
