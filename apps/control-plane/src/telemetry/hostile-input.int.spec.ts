import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topics, type EnrollResponse } from '@edge-fleet/shared';
import type { MqttClient } from 'mqtt';
import pg from 'pg';
import { connectDevice, enrollDevice, telemetryWindow } from '../test-support/device-client.js';
import { startHarness, waitFor, type Harness } from '../test-support/harness.js';

/**
 * Property-based: schema-shaped telemetry windows and reported states full of hostile strings,
 * extreme numbers and impossible dates, each from a fresh device through the real broker path,
 * next to a well-behaved device. Bounded runs keep the suite fast; fast-check prints the seed of
 * a failure for replay.
 */
const RUNS = 30;
const CONTROL_BOOT = randomUUID();

let h: Harness;
let db: pg.Client;
let control: { e: EnrollResponse; c: MqttClient; seq: number };
beforeAll(async () => {
  h = await startHarness();
  db = new pg.Client({ connectionString: h.dbUrl });
  await db.connect();
  const e = await enrollDevice(h, 'robotic_manipulation');
  control = { e, c: await connectDevice(h, e), seq: 0 };
});
afterAll(async () => {
  await control.c.endAsync();
  await db.end();
  await h.close();
});

const hostileText = fc.oneof(
  { weight: 3, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 64 }) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      '\u0000',
      'nul\u0000byte',
      '\ud800',
      '\udfff\ud800x',
      '%00',
      "' OR 1=1 --",
      '<img src=x onerror=alert(1)>',
      '__proto__',
      '\u202e',
    ),
  },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 300 }) },
);
const hostileDate = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      '0000-01-01T00:00:00Z',
      '0001-01-01T00:00:00Z',
      '1970-01-01T00:00:00Z',
      '9999-12-31T23:59:59Z',
      '2028-02-29T00:00:00Z',
    ),
  },
  { weight: 2, arbitrary: fc.integer({ min: -600_000, max: 600_000 }).map((ms) => new Date(Date.now() + ms).toISOString()) },
  {
    weight: 1,
    arbitrary: fc
      .date({ min: new Date('0000-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true })
      .map((d) => d.toISOString()),
  },
);
/** Numbers at and inside the schema's bounds: the extremes a valid window may carry. */
const extremeNumber = (max: number) =>
  fc.oneof(fc.constantFrom(0, Number.MIN_VALUE, 1e-300, max), fc.double({ min: 0, max, noNaN: true, noDefaultInfinity: true }));
const extremeInt = fc.oneof(fc.constantFrom(0, 1, 1e9, 2_147_483_647, Number.MAX_SAFE_INTEGER), fc.integer({ min: 0, max: 1e9 }));
const latency = extremeNumber(3_600_000);

/** Mostly schema-valid (end after start, errors within inferences), so that most of them reach the database. */
const hostileWindow = fc
  .record({
    windowStart: hostileDate,
    windowEnd: fc.oneof(hostileDate, fc.integer({ min: 0, max: 7_200_000 })),
    modelVersionId: fc.option(hostileText, { nil: null }),
    variantId: fc.option(hostileText, { nil: null }),
    precision: fc.option(fc.constantFrom('fp32', 'fp16', 'int8', 'int4'), { nil: null }),
    inferences: extremeInt,
    cacheHits: extremeInt,
    fallbacks: extremeInt,
    errors: extremeInt,
    latencyMs: fc.option(fc.record({ p50: latency, p95: latency, p99: latency, max: latency }), { nil: null }),
    power: fc.record({ watts: extremeNumber(10_000), source: fc.constantFrom('sensor', 'estimate', 'simulated'), detail: hostileText }),
    memory: fc.record({ rssMb: extremeNumber(1e7), heapUsedMb: extremeNumber(1e7) }),
  })
  .map((w) => ({
    ...w,
    windowEnd: typeof w.windowEnd === 'number' ? new Date(Date.parse(w.windowStart) + w.windowEnd).toISOString() : w.windowEnd,
    errors: Math.min(w.errors, w.inferences),
  }));

const input = (v: unknown) => encodeURIComponent(JSON.stringify(v));
/** REST list and get, tRPC list and get: what an operator's dashboard reads. */
const operatorReads = (deviceId: string) =>
  Promise.all(
    [
      `/api/v1/devices`,
      `/api/v1/devices/${deviceId}`,
      `/trpc/devices.list?input=${input({})}`,
      `/trpc/devices.get?input=${input({ id: deviceId })}`,
    ].map(async (p) => (await h.api(p)).status),
  );
const deadLettersMentioning = async (deviceId: string, bootId: string) =>
  (
    await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM "RejectedMessage" WHERE "deviceId" = $1 AND payload LIKE $2`, [
      deviceId,
      `%${bootId}%`,
    ])
  ).rows[0]?.n ?? 0;

describe('hostile device input (property-based)', () => {
  it('row 26, issue 10 item 1: every hostile window ends as a row or a dead letter, the other device keeps committing, operator reads answer 200', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.tuple(fc.nat({ max: 10_000 }), hostileWindow), { minLength: 1, maxLength: 4, selector: ([seq]) => seq }),
        async (windows) => {
          const e = await enrollDevice(h, 'robotic_manipulation');
          const c = await connectDevice(h, e);
          const bootId = randomUUID();
          try {
            const seq = control.seq++;
            // PUBACK comes only once a window is a row or a dead letter, so every publish resolving is the first half of the property
            await Promise.all([
              ...windows.map(([s, w]) =>
                c.publishAsync(topics.telemetry(e.deviceId), JSON.stringify({ schema: 1, deviceId: e.deviceId, bootId, seq: s, ...w }), {
                  qos: 1,
                }),
              ),
              control.c.publishAsync(
                topics.telemetry(control.e.deviceId),
                JSON.stringify(telemetryWindow(control.e.deviceId, CONTROL_BOOT, seq)),
                { qos: 1 },
              ),
            ]);
            const rows = await db.query<{ n: number }>(
              'SELECT count(*)::int AS n FROM "TelemetryWindow" WHERE "deviceId" = $1 AND "bootId" = $2',
              [e.deviceId, bootId],
            );
            expect((rows.rows[0]?.n ?? 0) + (await deadLettersMentioning(e.deviceId, bootId))).toBe(windows.length);
            const mine = await db.query('SELECT 1 FROM "TelemetryWindow" WHERE "deviceId" = $1 AND seq = $2', [control.e.deviceId, seq]);
            expect(mine.rowCount).toBe(1);
            expect(await operatorReads(e.deviceId)).toEqual([200, 200, 200, 200]);
          } finally {
            await c.endAsync();
          }
        },
      ),
      { numRuns: RUNS },
    );
  }, 120_000);

  it('row 26, issue 10 item 2: every hostile reported state is stored valid or kept as a dead letter, and operator reads answer 200', async () => {
    const hostileId = fc.oneof(fc.uuid(), hostileText, fc.constantFrom('not-a-uuid', '00000000-0000-0000-0000-000000000000'));
    const hostileReport = fc.record({
      phase: fc.oneof(fc.constantFrom('idle', 'running', 'failed'), hostileText),
      appliedAssignmentVersion: fc.option(extremeInt, { nil: null }),
      active: fc.option(
        fc.record({
          modelVersionId: hostileId,
          variantId: hostileId,
          precision: fc.constantFrom('fp32', 'int8'),
          sha256: fc.constant('a'.repeat(64)),
        }),
        {
          nil: null,
        },
      ),
      lastUpdate: fc.option(
        fc.record({ assignmentVersion: extremeInt, outcome: fc.constantFrom('ok', 'failed'), message: hostileText, at: hostileDate }),
        { nil: null },
      ),
      agentVersion: hostileText,
      reportedAt: hostileDate,
    });
    await fc.assert(
      fc.asyncProperty(hostileReport, async (r) => {
        const e = await enrollDevice(h, 'robotic_manipulation');
        const c = await connectDevice(h, e);
        const bootId = randomUUID();
        try {
          await c.publishAsync(topics.reported(e.deviceId), JSON.stringify({ schema: 1, deviceId: e.deviceId, bootId, ...r }), { qos: 1 });
          await waitFor(
            async () => {
              const stored = await db.query('SELECT 1 FROM "ReportedState" WHERE "deviceId" = $1 AND "bootId" = $2', [e.deviceId, bootId]);
              return stored.rowCount === 1 || (await deadLettersMentioning(e.deviceId, bootId)) === 1;
            },
            5_000,
            'the report stored or dead-lettered',
          );
          expect(await operatorReads(e.deviceId)).toEqual([200, 200, 200, 200]);
        } finally {
          await c.endAsync();
        }
      }),
      { numRuns: RUNS },
    );
  }, 120_000);

  it('row 15: oversized, huge-array, non-JSON, NaN and far-future telemetry is each a dead letter with its reason, kept within its bound; ingest goes on', async () => {
    const e = await enrollDevice(h, 'robotic_manipulation');
    const c = await connectDevice(h, e);
    const bootId = randomUUID();
    const window = (seq: number, over: Record<string, unknown> = {}) =>
      JSON.stringify({ ...telemetryWindow(e.deviceId, bootId, seq), ...over });
    const far = new Date(Date.now() + 50 * 365 * 86_400_000);
    // each a kind of bad, with the reason its dead letter must give
    const bad: [string, string, RegExp][] = [
      // 200 KB: over the telemetry topic's 64 KiB, under the broker's packet limit, so it reaches ingest
      ['oversized', window(1, { padding: 'x'.repeat(200_000) }), /payload of \d+ bytes exceeds 65536/],
      [
        'huge array',
        window(2, { latencyMs: { p50: Array.from({ length: 6_000 }, () => 1), p95: 1, p99: 1, max: 1 } }),
        /latencyMs\.p50: .*expected number, received array/,
      ],
      ['not JSON', '{"schema":1,"seq":3,', /payload is not valid JSON/],
      [
        'a NaN literal',
        `{"schema":1,"deviceId":"${e.deviceId}","bootId":"${bootId}","seq":4,"inferences":NaN}`,
        /payload is not valid JSON/,
      ],
      [
        'far-future timestamps',
        window(5, { windowStart: far.toISOString(), windowEnd: new Date(far.getTime() + 5_000).toISOString() }),
        /windowEnd .* is in the future/,
      ],
    ];
    try {
      const before =
        (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM "RejectedMessage" WHERE "deviceId" = $1', [e.deviceId])).rows[0]
          ?.n ?? 0;
      // PUBACK comes only once each is a row or a dead letter
      for (let round = 0; round < 20; round++) {
        await Promise.all(bad.map(([, payload]) => c.publishAsync(topics.telemetry(e.deviceId), payload, { qos: 1 })));
      }
      const seq = control.seq++;
      await control.c.publishAsync(
        topics.telemetry(control.e.deviceId),
        JSON.stringify(telemetryWindow(control.e.deviceId, CONTROL_BOOT, seq)),
        {
          qos: 1,
        },
      );
      // the well-behaved device's window committed after the barrage
      expect(
        (await db.query('SELECT 1 FROM "TelemetryWindow" WHERE "deviceId" = $1 AND seq = $2', [control.e.deviceId, seq])).rowCount,
      ).toBe(1);
      // none of the bad device's windows became a row
      expect((await db.query('SELECT 1 FROM "TelemetryWindow" WHERE "deviceId" = $1', [e.deviceId])).rowCount).toBe(0);
      const letters = await db.query<{ reason: string; payload: string }>(
        'SELECT reason, payload FROM "RejectedMessage" WHERE "deviceId" = $1 ORDER BY id',
        [e.deviceId],
      );
      // each kind is there with its reason (a dead letter per message, or fewer once the device's quota counts them)
      expect(letters.rows.length - before).toBeGreaterThanOrEqual(bad.length);
      for (const [what, , reason] of bad) {
        expect(
          letters.rows.some((r) => reason.test(r.reason)),
          `${what}: no dead letter whose reason matches ${String(reason)}; reasons: ${[...new Set(letters.rows.map((r) => r.reason.slice(0, 120)))].join(' | ')}`,
        ).toBe(true);
      }
      // what is kept of a message is bounded: the 200 KB one is stored cut to the dead-letter bound
      expect(Math.max(...letters.rows.map((r) => r.payload.length))).toBeLessThanOrEqual(16_384);
      expect(await operatorReads(e.deviceId)).toEqual([200, 200, 200, 200]);
    } finally {
      await c.endAsync();
    }
  }, 60_000);
});
