import { mulberry32 } from '@edge-fleet/shared';
import { describe, expect, it } from 'vitest';
import {
  decide,
  NO_OVERRIDE,
  type ActionInfo,
  type AlertInfo,
  type Decision,
  type DeviceSituation,
  type OverrideState,
} from './remediation-planner.js';

const T0 = new Date('2026-12-06T00:00:00Z');
const at = (s: number) => new Date(T0.getTime() + s * 1_000);
const SETTINGS = {
  mode: 'auto',
  maxDevicesPerHour: 10,
  maxPercentPerHour: null,
  holdOffSeconds: 900,
  checkWindowSeconds: 300,
  rateFactor: 0.5,
  dutyCycle: 0.5,
} as const;

function situation(o: Partial<DeviceSituation> = {}): DeviceSituation {
  return {
    deviceId: 'd1',
    scenario: 'robotic_manipulation',
    hardwareClass: 'rpi5',
    inRollout: false,
    hardwarePrecisions: ['fp32', 'fp16', 'int8'],
    policy: { precisionOrder: ['fp16', 'int8', 'fp32'], accuracyFloor: 0.99 },
    settings: SETTINGS,
    baseRateHz: 20,
    current: { modelVersionId: 'mv', variantId: 'v16' },
    variants: [
      { id: 'v32', precision: 'fp32', sizeBytes: 4000, usable: true, agreement: null },
      { id: 'v16', precision: 'fp16', sizeBytes: 2000, usable: true, agreement: 0.99999 },
      { id: 'v8', precision: 'int8', sizeBytes: 1000, usable: true, agreement: 0.995 },
    ],
    override: null,
    alerts: [],
    actions: [],
    ...o,
  };
}

function alert(metric: AlertInfo['metric'], state: AlertInfo['state'], o: Partial<AlertInfo> = {}): AlertInfo {
  return {
    alertId: `a-${metric}`,
    rule: `${metric}_rule`,
    metric,
    state,
    activeAt: at(0),
    resolvedAt: null,
    value: 40,
    threshold: 20,
    ...o,
  };
}

function action(o: Partial<ActionInfo> & Pick<ActionInfo, 'kind' | 'status'>): ActionInfo {
  return {
    id: `x-${o.kind}`,
    alertId: 'a-latency_ms',
    episode: at(0),
    before: NO_OVERRIDE,
    after: NO_OVERRIDE,
    undoes: null,
    createdAt: at(60),
    appliedAt: at(60),
    checkAt: at(360),
    outcomeAt: null,
    ...o,
  };
}

describe('remediation planner (M14)', () => {
  it('latency over target: steps FP16 down to the next precision of the policy order that meets the accuracy floor', () => {
    const d = decide(situation({ alerts: [alert('latency_ms', 'firing')] }), at(60), true);
    expect(d).toMatchObject({ type: 'propose', kind: 'precision_step_down', after: { variantId: 'v8' } });
    expect(d?.type === 'propose' && d.reason).toMatch(/latency_ms 40 over 20: fp16 → int8/);
  });

  it('an INT8 variant below the accuracy floor is not stepped down to, and the reason names its agreement and the floor', () => {
    const s = situation({ alerts: [alert('latency_ms', 'firing')], policy: { precisionOrder: ['fp16', 'int8'], accuracyFloor: 0.999 } });
    const d = decide(s, at(60), true);
    expect(d).toMatchObject({ type: 'skip', kind: 'precision_step_down' });
    expect(d?.type === 'skip' && d.reason).toMatch(/int8 \(v8\): agreement with FP32 0\.9950 is below the accuracy floor 0\.999/);
  });

  it('memory over its limit or a failed load: a smaller variant', () => {
    const d = decide(
      situation({ alerts: [alert('update_failed', 'firing')], current: { modelVersionId: 'mv', variantId: 'v32' } }),
      at(60),
      true,
    );
    expect(d).toMatchObject({ type: 'propose', kind: 'smaller_variant', after: { variantId: 'v16' } });
  });

  it('memory headroom below its floor: a smaller variant, the reason saying the headroom is below the floor', () => {
    const low = alert('memory_headroom_mb', 'firing', { value: 12, threshold: 64 });
    const d = decide(situation({ alerts: [low], current: { modelVersionId: 'mv', variantId: 'v32' } }), at(60), true);
    expect(d).toMatchObject({ type: 'propose', kind: 'smaller_variant', after: { variantId: 'v16' } });
    expect(d?.type === 'propose' && d.reason).toMatch(/memory_headroom_mb 12 below 64: fp32 → fp16/);
  });

  it('power over budget: the rate is reduced first, then low-power mode when the check finds it still firing', () => {
    const power = alert('power_w', 'firing', { value: 8, threshold: 5 });
    expect(decide(situation({ alerts: [power] }), at(60), true)).toMatchObject({
      type: 'propose',
      kind: 'rate_reduction',
      after: { maxRateHz: 10 },
    });
    const capped: OverrideState = { variantId: null, maxRateHz: 10, dutyCycle: null };
    const rate = action({ kind: 'rate_reduction', status: 'applied', alertId: power.alertId, after: capped });
    const s = situation({ alerts: [power], actions: [rate], override: { ...capped, modelVersionId: 'mv', baseVariantId: 'v16' } });
    expect(decide(s, at(300), true)).toBeNull(); // its check window is still running
    expect(decide(s, at(360), true)).toMatchObject({
      type: 'propose',
      kind: 'low_power',
      after: { maxRateHz: 10, dutyCycle: 0.5 },
      escalates: rate.id,
    });
  });

  it('a remedy that did not help within its check window is reverted to what the device ran before and marked failed', () => {
    const step = action({ kind: 'precision_step_down', status: 'applied', after: { ...NO_OVERRIDE, variantId: 'v8' } });
    const s = situation({
      alerts: [alert('latency_ms', 'firing')],
      actions: [step],
      current: { modelVersionId: 'mv', variantId: 'v8' },
      override: { variantId: 'v8', maxRateHz: null, dutyCycle: null, modelVersionId: 'mv', baseVariantId: 'v16' },
    });
    expect(decide(s, at(360), true)).toMatchObject({ type: 'fail', restore: NO_OVERRIDE, chain: [step.id] });
    // the check finds the alert resolved: it helped
    const resolved = { ...s, alerts: [alert('latency_ms', 'resolved', { resolvedAt: at(200) })] };
    expect(decide(resolved, at(360), true)).toMatchObject({ type: 'helped' });
  });

  it('steps back up only once every remediable alert has been clear for the hold-off', () => {
    const step = action({ kind: 'precision_step_down', status: 'helped', after: { ...NO_OVERRIDE, variantId: 'v8' } });
    const s = situation({
      alerts: [alert('latency_ms', 'resolved', { resolvedAt: at(200) })],
      actions: [step],
      current: { modelVersionId: 'mv', variantId: 'v8' },
      override: { variantId: 'v8', maxRateHz: null, dutyCycle: null, modelVersionId: 'mv', baseVariantId: 'v16' },
    });
    expect(decide(s, at(200 + 899), true)).toBeNull();
    expect(decide(s, at(200 + 900), true)).toMatchObject({ type: 'step_up', undoes: { id: step.id }, restore: NO_OVERRIDE });
    const pendingAgain = { ...s, alerts: [...s.alerts, alert('power_w', 'pending')] };
    expect(decide(pendingAgain, at(5_000), true)).toBeNull();
  });

  it('never remediates a device in an active rollout', () => {
    expect(decide(situation({ alerts: [alert('latency_ms', 'firing')], inRollout: true }), at(60), true)).toBeNull();
  });

  it('one remedy per alert episode: a new episode of the same alert may be remedied again, the same one not', () => {
    const skipped = action({ kind: 'precision_step_down', status: 'skipped', checkAt: null });
    expect(decide(situation({ alerts: [alert('latency_ms', 'firing')], actions: [skipped] }), at(600), true)).toBeNull();
    const again = alert('latency_ms', 'firing', { activeAt: at(500) });
    expect(decide(situation({ alerts: [again], actions: [skipped] }), at(600), true)).toMatchObject({ type: 'propose' });
  });

  it('mode off: no new remedy', () => {
    expect(decide(situation({ alerts: [alert('latency_ms', 'firing')] }), at(60), false)).toBeNull();
  });

  it('hysteresis: a seeded flapping pattern does not make remediation oscillate (a step-up taken back doubles the hold-off, the fourth pins it)', () => {
    const changes = simulateFlapping(42, 24 * 60);
    // without the back-off the same pattern steps the device up and down again after every hold-off
    expect(changes.length).toBeLessThanOrEqual(9);
    const ups = changes.filter((c) => c.kind === 'step_up');
    const gaps = ups.slice(1).map((u, i) => u.minute - (ups[i]?.minute ?? 0));
    for (let i = 1; i < gaps.length; i++) expect(gaps[i]).toBeGreaterThan(gaps[i - 1] ?? 0);
    // the last hours of the day: nothing moves any more
    expect(changes.filter((c) => c.minute > 12 * 60)).toEqual([]);
  });
});

/**
 * A device whose FP16 latency flaps across the target minute by minute (seeded) and whose INT8 is
 * fine, with the alert itself flapping (the worst case: no alert hysteresis in front). The planner
 * runs every minute; decisions are applied as the service would.
 */
function simulateFlapping(seed: number, minutes: number): { minute: number; kind: string }[] {
  const rnd = mulberry32(seed);
  let s = situation({ settings: { ...SETTINGS, holdOffSeconds: 900, checkWindowSeconds: 120 } });
  let a = alert('latency_ms', 'inactive');
  const changes: { minute: number; kind: string }[] = [];
  let n = 0;
  const apply = (d: Decision, now: Date, minute: number) => {
    const cur: OverrideState = s.override ?? NO_OVERRIDE;
    const set = (o: OverrideState) => {
      const empty = o.variantId === null && o.maxRateHz === null && o.dutyCycle === null;
      s = {
        ...s,
        override: empty ? null : { ...o, modelVersionId: 'mv', baseVariantId: 'v16' },
        current: { modelVersionId: 'mv', variantId: o.variantId ?? 'v16' },
      };
    };
    const push = (x: Partial<ActionInfo> & Pick<ActionInfo, 'kind' | 'status'>) =>
      (s = { ...s, actions: [action({ id: `x${n++}`, createdAt: now, appliedAt: now, checkAt: null, before: cur, ...x }), ...s.actions] });
    const mark = (id: string, status: ActionInfo['status']) =>
      (s = { ...s, actions: s.actions.map((x) => (x.id === id ? { ...x, status } : x)) });
    switch (d.type) {
      case 'propose':
        push({
          kind: d.kind,
          status: 'applied',
          alertId: d.alert.alertId,
          episode: d.alert.activeAt,
          after: d.after,
          checkAt: new Date(now.getTime() + 120_000),
        });
        set(d.after);
        changes.push({ minute, kind: d.kind });
        break;
      case 'helped':
        mark(d.action.id, 'helped');
        break;
      case 'fail':
        mark(d.action.id, 'failed');
        set(d.restore);
        changes.push({ minute, kind: 'revert' });
        break;
      case 'step_up':
        mark(d.undoes.id, 'reverted');
        push({ kind: 'step_up', status: 'applied', undoes: d.undoes.id, after: d.restore });
        set(d.restore);
        changes.push({ minute, kind: 'step_up' });
        break;
      case 'skip':
        push({ kind: d.kind, status: 'skipped', alertId: d.alert.alertId, episode: d.alert.activeAt });
        break;
      case 'expire':
      case 'supersede':
        throw new Error(`unexpected ${d.type} in auto mode on one model version`);
    }
  };
  for (let m = 0; m < minutes; m++) {
    const now = at(m * 60);
    const bad = s.current?.variantId === 'v16' && rnd() < 0.5;
    if (bad && a.state !== 'firing') a = { ...a, state: 'firing', activeAt: now, resolvedAt: null };
    else if (!bad && a.state === 'firing') a = { ...a, state: 'resolved', resolvedAt: now };
    s = { ...s, alerts: [a] };
    const d = decide(s, now, true);
    if (d) apply(d, now, m);
  }
  return changes;
}
