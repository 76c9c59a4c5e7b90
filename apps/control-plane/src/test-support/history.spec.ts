import { describe, expect, it } from 'vitest';
import { modelViolations, rolloutViolations, telemetryViolations, type RolloutEvent } from './history.js';

const ev = (id: number, action: string, details: Record<string, unknown> | null = null): RolloutEvent => ({ id, action, details });
const healthy: RolloutEvent[] = [
  ev(1, 'rollout.created'),
  ev(2, 'rollout.wave_started', { wave: 0 }),
  ev(3, 'rollout.wave_passed', { wave: 0 }),
  ev(4, 'rollout.wave_started', { wave: 1 }),
  ev(5, 'rollout.wave_passed', { wave: 1 }),
  ev(6, 'rollout.status', { from: 'running', to: 'completed' }),
];

describe('history checkers', () => {
  it('find nothing wrong in a sound history', () => {
    expect(rolloutViolations(healthy)).toEqual([]);
    expect(
      telemetryViolations(
        [{ deviceId: 'd', bootId: 'b', acknowledged: [0, 1, 2] }],
        [0, 1, 2].map((seq) => ({ deviceId: 'd', bootId: 'b', seq })),
      ),
    ).toEqual([]);
    expect(modelViolations([{ id: 'd', activeVariantId: 'v1' }], ['v1', 'v2'])).toEqual([]);
  });

  it('report acknowledged windows that were not stored, as ranges, and windows stored twice', () => {
    const stored = [0, 3, 3, 6].map((seq) => ({ deviceId: 'd', bootId: 'b', seq }));
    expect(telemetryViolations([{ deviceId: 'd', bootId: 'b', acknowledged: [0, 1, 2, 3, 4, 5, 6] }], stored)).toEqual([
      { kind: 'lost_telemetry', detail: 'device d boot b: seq 1..2, 4..5 acknowledged, not stored' },
      { kind: 'duplicate_telemetry', detail: 'd/b/3 stored 2 times' },
    ]);
  });

  it.each<[string, RolloutEvent[], RegExp]>([
    [
      'a wave started before the one ahead passed',
      [ev(1, 'rollout.created'), ev(2, 'rollout.wave_started', { wave: 0 }), ev(3, 'rollout.wave_started', { wave: 1 })],
      /wave 1 started before wave 0 passed/,
    ],
    [
      'a wave started twice',
      [ev(1, 'rollout.created'), ev(2, 'rollout.wave_started', { wave: 0 }), ev(3, 'rollout.wave_started', { wave: 0 })],
      /wave 0 started twice/,
    ],
    ['a wave judged before it started', [ev(1, 'rollout.created'), ev(2, 'rollout.wave_failed', { wave: 0 })], /judged before it started/],
    ['a wave judged after it passed', [...healthy.slice(0, 3), ev(9, 'rollout.wave_failed', { wave: 0 })], /judged again after it passed/],
    [
      'a status change from a status the trail never left it in',
      [
        ev(1, 'rollout.created'),
        ev(2, 'rollout.status', { from: 'running', to: 'paused' }),
        ev(3, 'rollout.status', { from: 'running', to: 'completed' }),
      ],
      /from running, but the trail left the rollout paused/,
    ],
    ['anything after a terminal status', [...healthy, ev(7, 'rollout.wave_started', { wave: 2 })], /after the terminal status completed/],
    [
      'completed with a wave that never passed',
      [ev(1, 'rollout.created'), ev(2, 'rollout.wave_started', { wave: 0 }), ev(3, 'rollout.status', { from: 'running', to: 'completed' })],
      /completed with a started wave that never passed/,
    ],
  ])('report %s', (_what, events, reason) => {
    const found = rolloutViolations(events);
    expect(found.map((v) => v.kind)).toContain('illegal_transition');
    expect(found.map((v) => v.detail).join('; ')).toMatch(reason);
  });

  it('report a device on a model that is neither the previous nor the target', () => {
    expect(
      modelViolations(
        [
          { id: 'd', activeVariantId: 'v3' },
          { id: 'e', activeVariantId: null },
        ],
        ['v1', 'v2'],
      ),
    ).toEqual([
      { kind: 'unexpected_model', detail: 'device d runs v3, allowed v1 or v2' },
      { kind: 'unexpected_model', detail: 'device e runs null, allowed v1 or v2' },
    ]);
  });
});
