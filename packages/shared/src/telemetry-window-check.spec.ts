import { describe, expect, it } from 'vitest';
import { HISTOGRAM_MAX_BUCKETS } from './histogram.js';
import { parsePayload } from './mqtt-contract.js';
import { mulberry32, type Random } from './random.js';
import { TelemetryWindowSchema } from './schemas.js';
import { checkTelemetryWindow } from './telemetry-window-check.js';

const deviceId = '3f0e4a52-8a9c-4d1e-9f57-2b1c6f0d9a11';

const pick = <T>(rand: Random, xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
const int = (rand: Random, max: number): number => Math.floor(rand() * (max + 1));
const chance = (rand: Random, p: number): boolean => rand() < p;

const percentiles = (rand: Random) => ({ p50: rand() * 10, p95: rand() * 100, p99: rand() * 1_000, max: int(rand, 3_600_000) });

/** A window the schema accepts, with every optional part present or not. */
function validWindow(rand: Random): Record<string, unknown> {
  const inferences = int(rand, 2_000);
  const cacheHits = chance(rand, 0.5) ? 0 : int(rand, 100);
  const w: Record<string, unknown> = {
    schema: 1,
    deviceId,
    bootId: pick(rand, [
      '7c9e6679-7425-40de-944b-e07fc1f90ae7',
      '7C9E6679-7425-40DE-944B-E07FC1F90AE7',
      'ffffffff-ffff-ffff-ffff-ffffffffffff',
    ]),
    seq: pick(rand, [0, int(rand, 1e6), Number.MAX_SAFE_INTEGER]),
    windowStart: pick(rand, ['2026-11-29T10:00:00.000Z', '2026-11-29T10:00:00Z', '2024-02-29T10:00:00.123456+01:00']),
    windowEnd: '2026-11-29T10:00:05.000Z',
    modelVersionId: pick(rand, [null, 'mv1', 'm'.repeat(64)]),
    variantId: pick(rand, [null, 'v1']),
    precision: pick(rand, [null, 'fp32', 'fp16', 'int8', 'int4']),
    inferences,
    errors: int(rand, inferences),
    latencyMs: chance(rand, 0.2) ? null : percentiles(rand),
    power: {
      watts: pick(rand, [0, 3.4, 10_000]),
      source: pick(rand, ['sensor', 'estimate', 'simulated']),
      detail: pick(rand, ['', 'idle 1.2 W + active', 'nul\u0000byte', 'lone \ud800', 'd'.repeat(256)]),
    },
    memory: { rssMb: rand() * 1e3, heapUsedMb: pick(rand, [0, 1e7, 12.25]) },
  };
  if (chance(rand, 0.8)) w.cacheHits = cacheHits;
  if (chance(rand, 0.5) && cacheHits > 0 && w.cacheHits !== undefined) w.cacheSavedMs = rand() * 1e3;
  if (chance(rand, 0.3)) w.cacheSavedMs = 0;
  if (chance(rand, 0.8)) w.fallbacks = int(rand, 10);
  if (chance(rand, 0.8)) w.source = pick(rand, ['traffic', 'probe']);
  if (chance(rand, 0.5)) w.queueMs = chance(rand, 0.3) ? null : percentiles(rand);
  if (chance(rand, 0.5)) {
    let budget = inferences;
    const buckets: [number, number][] = [];
    for (let i = int(rand, 20); i < HISTOGRAM_MAX_BUCKETS && budget > 0 && buckets.length < 12; i += 1 + int(rand, 40)) {
      const c = 1 + int(rand, Math.min(budget - 1, 300));
      buckets.push([i, c]);
      budget -= c;
    }
    w.latencyHistogram = chance(rand, 0.2) ? null : buckets;
  }
  if (chance(rand, 0.4)) {
    const n = int(rand, 500);
    const remote: Record<string, unknown> = {
      inferences: n,
      errors: int(rand, n),
      latencyMs: chance(rand, 0.3) ? null : percentiles(rand),
    };
    if (chance(rand, 0.5)) remote.bytesSent = int(rand, 1e9);
    if (chance(rand, 0.5)) remote.bytesReceived = 1e12;
    w.remote = chance(rand, 0.2) ? null : remote;
  }
  return w;
}

/** Values at and past every bound of the schema, and of every wrong type. */
const HOSTILE: readonly unknown[] = [
  ...[0, -0, -1, 1, 0.5, -1e-9, 1e9, 1e9 + 1, 1e12, 1e12 + 1, 3_600_000, 3_600_000.5, 10_000, 10_000.1, 1e7, 1e7 + 1],
  ...[Number.MAX_SAFE_INTEGER, 2 ** 53, Infinity, -Infinity, NaN, HISTOGRAM_MAX_BUCKETS - 1, HISTOGRAM_MAX_BUCKETS, 2_000],
  ...['', 'x', 'a'.repeat(64), 'a'.repeat(65), 'a'.repeat(256), 'a'.repeat(257), 'n\u0000', 'lone \udc00', '1', 'null'],
  ...['3f0e4a52-8a9c-4d1e-9f57-2b1c6f0d9a11', '00000000-0000-0000-0000-000000000000', '3f0e4a52-8a9c-0d1e-9f57-2b1c6f0d9a11'],
  ...['3f0e4a52-8a9c-4d1e-7f57-2b1c6f0d9a11', '3f0e4a528a9c4d1e9f572b1c6f0d9a11', ' 3f0e4a52-8a9c-4d1e-9f57-2b1c6f0d9a11'],
  ...['2026-02-29T00:00:00Z', '2024-02-29T00:00:00Z', '2026-11-29T10:00:05+01:00', '2026-11-29T10:00:05', '2026-11-29 10:00:05Z'],
  ...['2026-11-29T09:59:59.999Z', '2026-11-29T24:00:00Z', '2026-11-29T10:00:05.Z', '+002026-11-29T10:00:05Z', '0000-01-01T00:00:00Z'],
  ...['fp32', 'int4', 'fp64', 'sensor', 'simulated', 'traffic', 'probe', 'FP32'],
  ...[
    null,
    true,
    false,
    [],
    {},
    [[0, 1]],
    [
      [1, 1],
      [0, 1],
    ],
    [
      [0, 1],
      [0, 1],
    ],
    [[0, 0]],
    [[0, 1, 2]],
    [[0]],
    [[-1, 1]],
    [['0', 1]],
  ],
  ...[[[HISTOGRAM_MAX_BUCKETS, 1]], [[0, 1e9 + 1]], [[0, 2_001]], { p50: 1, p95: 1, p99: 1, max: 1 }, { p50: 1, p95: 1, p99: 1 }],
  ...[
    { p50: 1, p95: 1, p99: 1, max: 1, extra: 1 },
    { inferences: 1, errors: 2, latencyMs: null },
    { inferences: 2, errors: 1, latencyMs: null },
  ],
  ...[{ watts: 1, source: 'sensor', detail: '' }, { rssMb: 1, heapUsedMb: 1 }, { rssMb: 1 }],
];

/** Every path to an object or array inside `v` (the root included). */
function containers(v: unknown, path: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  if (typeof v !== 'object' || v === null) return out;
  out.push(path);
  for (const [k, x] of Object.entries(v)) containers(x, [...path, Array.isArray(v) ? Number(k) : k], out);
  return out;
}

function at(v: unknown, path: (string | number)[]): Record<string | number, unknown> {
  return path.reduce<unknown>((o, k) => (o as Record<string | number, unknown>)[k], v) as Record<string | number, unknown>;
}

/** One to three changes: a field set to a hostile value, removed, or an unknown field added. */
function mutate(rand: Random, w: Record<string, unknown>): void {
  for (let n = 1 + int(rand, 2); n > 0; n--) {
    const target = at(w, pick(rand, containers(w)));
    const keys = Object.keys(target);
    const op = rand();
    if (!Array.isArray(target) && (op < 0.1 || keys.length === 0)) {
      // an own property, as JSON.parse makes it (assigning `__proto__` would set the prototype)
      const key = pick(rand, ['extra', '__proto__', 'Schema', 'p50', 'detail']);
      Object.defineProperty(target, key, { value: pick(rand, HOSTILE), enumerable: true, writable: true, configurable: true });
    } else if (keys.length === 0) continue;
    else if (op < 0.25) delete target[pick(rand, keys)];
    else target[pick(rand, keys)] = structuredClone(pick(rand, HOSTILE));
  }
}

/** The verdict of both checks on one value, and their outputs when both accept. */
function compare(value: unknown): { schema: boolean; fast: boolean } {
  const zod = TelemetryWindowSchema.safeParse(structuredClone(value));
  const fast = checkTelemetryWindow(structuredClone(value));
  if (zod.success && fast !== null) expect(fast).toStrictEqual(zod.data);
  return { schema: zod.success, fast: fast !== null };
}

describe('checkTelemetryWindow, the hand-written check of the ingest hot path', () => {
  it('accepts exactly the windows the schema accepts, with the same output (seeded: 5,000 generated windows)', () => {
    const rand = mulberry32(15);
    for (let i = 0; i < 5_000; i++) {
      const w = validWindow(rand);
      const { schema, fast } = compare(JSON.parse(JSON.stringify(w)));
      if (!schema || !fast) throw new Error(`window ${i}: schema ${schema}, check ${fast}: ${JSON.stringify(w)}`);
    }
  }, 120_000);

  it('refuses exactly what the schema refuses (seeded: 10,000 windows with hostile fields, missing fields, unknown keys)', () => {
    const rand = mulberry32(1515);
    let refused = 0;
    for (let i = 0; i < 10_000; i++) {
      const w = validWindow(rand);
      mutate(rand, w);
      // through JSON where it can go (a payload is JSON), and as built too (Infinity, NaN, `__proto__` as a key)
      for (const value of [JSON.parse(JSON.stringify(w)) as unknown, w]) {
        const { schema, fast } = compare(value);
        if (schema !== fast) throw new Error(`window ${i}: schema ${schema}, check ${fast}: ${JSON.stringify(value)}`);
        if (!schema) refused += 1;
      }
    }
    console.log(`refused ${refused} of 20,000`);
    // most mutations break the window, but not all: both verdicts are exercised
    expect(refused).toBeGreaterThan(15_000);
    expect(refused).toBeLessThan(20_000);
  }, 300_000);

  it('refuses what is not an object', () => {
    for (const v of [null, undefined, 1, 'w', [], [validWindow(mulberry32(1))]]) {
      expect(checkTelemetryWindow(v)).toBeNull();
      expect(TelemetryWindowSchema.safeParse(v).success).toBe(false);
    }
  });

  it('a window the check refuses is refused by the contract with the issues naming the field', () => {
    const w = { ...validWindow(mulberry32(2)), errors: 5, inferences: 3 };
    const m = parsePayload(
      'telemetry',
      deviceId,
      new TextEncoder().encode(JSON.stringify({ ...w, power: { watts: -1, source: 'sensor', detail: '' } })),
    );
    expect(m.ok).toBe(false);
    if (m.ok || m.error.code !== 'schema') throw new Error('expected a schema refusal');
    expect(m.error.issues.map((i) => i.path)).toEqual(expect.arrayContaining(['power.watts']));
    expect(m.error.reason).toMatch(/power\.watts: must be >= 0|power\.watts: Too small/);
  });

  it('the contract takes the window through the check: defaults filled in and unstorable text repaired in place', () => {
    const w: Record<string, unknown> = { ...validWindow(mulberry32(3)), power: { watts: 1, source: 'sensor', detail: 'a\u0000b' } };
    delete w.cacheHits;
    delete w.cacheSavedMs;
    delete w.fallbacks;
    delete w.source;
    const m = parsePayload('telemetry', deviceId, new TextEncoder().encode(JSON.stringify(w)));
    if (!m.ok) throw new Error(m.error.reason);
    expect(m.payload).toMatchObject({ cacheHits: 0, fallbacks: 0, source: 'probe', power: { detail: 'a\uFFFDb' } });
  });
});
