import { describe, expect, it } from 'vitest';
import { metadataLabel, overQuotaLabel, runsLabel, runsTitle } from './device-runs';

const active = { name: 'classifier', version: '2.0.0', precision: 'int8' };

describe('device runs', () => {
  it('names model, version and precision, or nothing', () => {
    expect(runsLabel({ active, assignmentVersion: 1, reported: null, reason: null })).toBe('classifier 2.0.0 int8');
    expect(runsLabel({ active: null, assignmentVersion: 1, reported: null, reason: null })).toBeNull();
  });

  it('says whether the device has caught up with its assignment', () => {
    expect(
      runsTitle({
        active,
        assignmentVersion: 3,
        reported: { phase: 'running', appliedAssignmentVersion: 3 },
        reason: 'int8 in SRAM: p99 0.30 ms ≤ 20 ms',
      }),
    ).toMatch(/^assignment v3 applied\. Why: int8 in SRAM/);
    expect(
      runsTitle({ active, assignmentVersion: 4, reported: { phase: 'downloading', appliedAssignmentVersion: 3 }, reason: null }),
    ).toMatch(/^assignment v4 desired, v3 applied \(phase: downloading\)\./);
    expect(runsTitle({ active: null, assignmentVersion: 1, reported: null, reason: null })).toMatch(/not reported yet/);
  });
});

describe('metadata label', () => {
  it('says fresh, stale with the figures, or not reported', () => {
    expect(metadataLabel(null, true)).toBe('fresh');
    expect(metadataLabel(undefined, true)).toBe('fresh');
    expect(metadataLabel(null, false)).toBe('not reported');
    expect(
      metadataLabel({ assignmentVersion: 4, expiresAt: '2026-11-29T12:00:00.000Z', detectedAt: '2026-11-29T12:00:01.000Z' }, true),
    ).toBe(
      'STALE: the manifest of assignment v4 expired at 2026-11-29T12:00:00.000Z; the device keeps its model but cannot vouch that it is up to date',
    );
    expect(metadataLabel({ assignmentVersion: '4' }, true)).toBe('not reported (unreadable alarm)');
  });

  it('issue 10 item 7: counts the windows the quota dead-lettered', () => {
    expect(overQuotaLabel(0)).toBe('none');
    expect(overQuotaLabel(1)).toBe('1 window over the quota, kept as dead letters');
    expect(overQuotaLabel(4976)).toBe('4,976 windows over the quota, kept as dead letters');
  });
});
