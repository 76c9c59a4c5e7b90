import { describe, expect, it } from 'vitest';
import { ReportedStateSchema, StoredReportedStateSchema, TelemetryWindowSchema } from './schemas.js';
import { isStorableText, toStorableText } from './text.js';

const deviceId = '3f0e4a52-8a9c-4d1e-9f57-2b1c6f0d9a11';
const bootId = '7c9e6679-7425-40de-944b-e07fc1f90ae7';
const report = {
  schema: 1,
  deviceId,
  bootId,
  phase: 'running',
  appliedAssignmentVersion: 4,
  active: { modelVersionId: 'mv', variantId: 'v', precision: 'int8', sha256: 'a'.repeat(64) },
  lastUpdate: null,
  agentVersion: '0.1.0',
  reportedAt: '2026-11-29T10:00:00.000Z',
};

describe('device text Postgres can store (issue 10 items 1 and 2)', () => {
  it('finds NUL and unpaired surrogates, and leaves paired ones (emoji) alone', () => {
    expect(['nul\u0000', '\ud800', 'x\udc00y'].map(isStorableText)).toEqual([false, false, false]);
    expect(['plain', 'emoji \u{1F600}', ''].map(isStorableText)).toEqual([true, true, true]);
    expect(toStorableText('a\u0000b\ud800c\u{1F600}')).toBe('a\uFFFDb\uFFFDc\u{1F600}');
  });

  it('a telemetry detail is repaired, an id with NUL is refused', () => {
    const w = {
      schema: 1,
      deviceId,
      bootId,
      seq: 1,
      windowStart: '2026-11-29T10:00:00.000Z',
      windowEnd: '2026-11-29T10:00:05.000Z',
      modelVersionId: null,
      variantId: null,
      precision: null,
      inferences: 1,
      errors: 0,
      latencyMs: null,
      power: { watts: 1, source: 'sensor', detail: 'nul\u0000byte' },
      memory: { rssMb: 1, heapUsedMb: 1 },
    };
    expect(TelemetryWindowSchema.parse(w).power.detail).toBe('nul\uFFFDbyte');
    expect(TelemetryWindowSchema.safeParse({ ...w, variantId: 'v\u0000' }).success).toBe(false);
  });

  it('a reported state: assignment numbers fit a Postgres integer; stored ids are UUIDs', () => {
    expect(ReportedStateSchema.safeParse({ ...report, appliedAssignmentVersion: 2 ** 31 }).success).toBe(false);
    expect(ReportedStateSchema.safeParse(report).success).toBe(true);
    const stored = StoredReportedStateSchema.safeParse(report);
    expect(stored.success ? [] : stored.error.issues.map((i) => i.path.join('.'))).toEqual(['active.modelVersionId', 'active.variantId']);
  });
});
