import { describe, expect, it } from 'vitest';
import {
  DesiredStateSchema,
  EnrollRequestSchema,
  InputSpecListSchema,
  ReportedStateSchema,
  StatusMessageSchema,
  StoredReportedStateSchema,
  TelemetryWindowSchema,
  InferenceUrlSchema,
} from './schemas.js';
import { hardwarePreset, HARDWARE_PRESETS } from './hardware.js';
import { DEFAULT_POLICIES } from './policy.js';
import { HardwareProfileSchema } from './schemas.js';

const deviceId = '3f0e4a52-8a9c-4d1e-9f57-2b1c6f0d9a11';
const bootId = '7c9e6679-7425-40de-944b-e07fc1f90ae7';
const sha = 'a'.repeat(64);

const telemetry = {
  schema: 1,
  deviceId,
  bootId,
  seq: 3,
  windowStart: '2026-11-29T10:00:00.000Z',
  windowEnd: '2026-11-29T10:00:05.000Z',
  modelVersionId: 'mv1',
  variantId: 'v1',
  precision: 'fp32',
  inferences: 50,
  errors: 1,
  latencyMs: { p50: 1.2, p95: 2.5, p99: 3.9, max: 7.1 },
  power: { watts: 3.4, source: 'estimate', detail: 'idle 1.2 W + active' },
  memory: { rssMb: 80.5, heapUsedMb: 12.25 },
  cacheHits: 0,
  fallbacks: 0,
  source: 'probe',
};

const desired = {
  schema: 1,
  deviceId,
  assignmentVersion: 4,
  issuedAt: '2026-11-29T10:00:00.000Z',
  scenario: 'robotic_manipulation',
  reason: 'why',
  model: {
    modelId: 'm',
    modelVersionId: 'mv',
    variantId: 'v',
    name: 'arm',
    version: '1',
    precision: 'int8',
    artifactUrl: 'http://127.0.0.1:8080/api/v1/artifacts/x',
    sha256: sha,
    sizeBytes: 10,
    inputs: [{ name: 'x', dtype: 'float32', shape: [1, 4] }],
    manifest: {
      payload: 'eyJhIjoxfQ==',
      signature: 'c2ln',
      signingKey: { publicKey: 'cGs=', expiresAt: '2027-11-29T10:00:00.000Z', rootSignature: 'cnM=' },
    },
  },
  runtime: { targetRateHz: 10, windowSeconds: 5, intraOpThreads: 1 },
};

describe('contracts round-trip', () => {
  it.each([
    ['telemetry window', TelemetryWindowSchema, telemetry],
    ['desired state', DesiredStateSchema, desired],
    ['desired state without a model', DesiredStateSchema, { ...desired, model: null }],
    [
      'reported state',
      ReportedStateSchema,
      {
        schema: 1,
        deviceId,
        bootId,
        phase: 'running',
        appliedAssignmentVersion: 4,
        active: { modelVersionId: 'mv', variantId: 'v', precision: 'int8', sha256: sha },
        lastUpdate: { assignmentVersion: 4, outcome: 'ok', at: '2026-11-29T10:00:00.000Z' },
        agentVersion: '0.1.0',
        reportedAt: '2026-11-29T10:00:00.000Z',
      },
    ],
    ['status', StatusMessageSchema, { state: 'offline' }],
  ])('%s survives JSON and parsing unchanged', (_name, schema, value) => {
    expect(schema.parse(JSON.parse(JSON.stringify(value)))).toEqual(value);
  });
});

describe('reported telemetry drops (row 17)', () => {
  const report = {
    schema: 1,
    deviceId,
    bootId,
    phase: 'running',
    appliedAssignmentVersion: null,
    active: null,
    lastUpdate: null,
    agentVersion: '0.1.0',
    reportedAt: '2026-11-29T10:00:00.000Z',
  };

  it('the control plane’s strict stored schema takes the optional drop count, and a report without it', () => {
    expect(StoredReportedStateSchema.parse({ ...report, telemetryDroppedWindows: 12 })).toMatchObject({ telemetryDroppedWindows: 12 });
    expect(StoredReportedStateSchema.parse(report)).not.toHaveProperty('telemetryDroppedWindows');
  });

  it('refuses a negative or fractional drop count', () => {
    for (const bad of [-1, 1.5, '3'])
      expect(ReportedStateSchema.safeParse({ ...report, telemetryDroppedWindows: bad }).success, String(bad)).toBe(false);
  });
});

describe('contracts reject bad payloads', () => {
  it.each([
    ['negative inference count', { ...telemetry, inferences: -1 }, 'inferences'],
    ['more errors than inferences', { ...telemetry, errors: 51 }, 'errors'],
    ['window ending before it starts', { ...telemetry, windowEnd: '2026-11-29T09:00:00.000Z' }, 'windowEnd'],
    ['non-numeric latency', { ...telemetry, latencyMs: { ...telemetry.latencyMs, p99: 'NaN' } }, 'latencyMs.p99'],
    ['unknown power source', { ...telemetry, power: { ...telemetry.power, source: 'guess' } }, 'power.source'],
    ['extra field', { ...telemetry, admin: true }, ''],
    ['device id that is not a uuid', { ...telemetry, deviceId: '#' }, 'deviceId'],
    [
      'more remote errors than forwarded requests',
      { ...telemetry, remote: { inferences: 2, errors: 3, latencyMs: null } },
      'remote.errors',
    ],
    ['negative forwarded count', { ...telemetry, remote: { inferences: -1, errors: 0, latencyMs: null } }, 'remote.inferences'],
    ['extra field in remote', { ...telemetry, remote: { inferences: 1, errors: 0, latencyMs: null, node: 'x' } }, 'remote'],
  ])('telemetry: %s', (_name, value, path) => {
    const r = TelemetryWindowSchema.safeParse(value);
    expect(r.success).toBe(false);
    if (!r.success && path) expect(r.error.issues.map((i) => i.path.join('.'))).toContain(path);
  });

  it('telemetry source: a window from an agent that predates it is the probe’s; a traffic window carries queue wait', () => {
    const { source: _s, ...old } = telemetry;
    expect(TelemetryWindowSchema.parse(old).source).toBe('probe');
    const q = { p50: 0.1, p95: 0.2, p99: 0.3, max: 0.4 };
    expect(TelemetryWindowSchema.parse({ ...telemetry, source: 'traffic', queueMs: q })).toMatchObject({ source: 'traffic', queueMs: q });
    expect(TelemetryWindowSchema.safeParse({ ...telemetry, source: 'users' }).success).toBe(false);
  });

  it('hybrid placement: a cloud node address is an http(s) base URL without credentials; a reported state carries it only as such', () => {
    expect(InferenceUrlSchema.safeParse('http://10.0.0.5:8701').success).toBe(true);
    expect(InferenceUrlSchema.safeParse('https://node.example/').success).toBe(true);
    for (const bad of ['ftp://node:21', 'http://user:pw@node:8701', 'http://node:8701/?x=1', 'http://node#f', 'node:8701', 'x'.repeat(600)])
      expect(InferenceUrlSchema.safeParse(bad).success, bad).toBe(false);
  });

  it('desired state: refuses a model without a signed manifest', () => {
    const { manifest: _m, ...unsigned } = desired.model;
    expect(DesiredStateSchema.safeParse({ ...desired, model: unsigned }).success).toBe(false);
  });

  it('desired state: refuses a malformed sha256 and a non-URL artifact', () => {
    expect(DesiredStateSchema.safeParse({ ...desired, model: { ...desired.model, sha256: 'abc' } }).success).toBe(false);
    expect(DesiredStateSchema.safeParse({ ...desired, model: { ...desired.model, artifactUrl: 'not a url' } }).success).toBe(false);
  });

  it('input specs: refuse duplicate names, unfixed dimensions and huge tensors', () => {
    expect(
      InputSpecListSchema.safeParse([
        { name: 'a', dtype: 'float32', shape: [1] },
        { name: 'a', dtype: 'int64', shape: [1] },
      ]).success,
    ).toBe(false);
    expect(InputSpecListSchema.safeParse([{ name: 'a', dtype: 'float32', shape: [-1, 4] }]).success).toBe(false);
    expect(InputSpecListSchema.safeParse([{ name: 'a', dtype: 'float32', shape: [4096, 4096, 2] }]).success).toBe(false);
    expect(InputSpecListSchema.safeParse([{ name: 'a', dtype: 'float32', shape: [1, 3, 224, 224] }]).success).toBe(true);
  });

  it('enrollment: refuses a short token and a profile without precisions', () => {
    expect(EnrollRequestSchema.safeParse({ token: 'short', hardwareProfile: hardwarePreset('cloud-cpu-node') }).success).toBe(false);
    expect(
      EnrollRequestSchema.safeParse({ token: 'x'.repeat(32), hardwareProfile: { ...hardwarePreset('cloud-cpu-node'), precisions: [] } })
        .success,
    ).toBe(false);
  });
});

describe('defaults', () => {
  it('every hardware preset is a valid profile', () => {
    for (const name of Object.keys(HARDWARE_PRESETS) as (keyof typeof HARDWARE_PRESETS)[]) {
      expect(HardwareProfileSchema.safeParse(hardwarePreset(name)).success).toBe(true);
    }
  });

  it('the default policy set has the six scenarios of the brief with their targets', () => {
    expect(DEFAULT_POLICIES.map((p) => [p.scenario, p.latencyPercentile, p.latencyTargetMs])).toEqual([
      ['financial_trading', 'p99', 10],
      ['autonomous_driving', 'p95', 5],
      ['customer_support_agent', 'p99', 50],
      ['robotic_manipulation', 'p99', 20],
      ['content_generation_agent', 'p99', 200],
      ['data_analysis_agent', 'p99', 500],
    ]);
  });
});
