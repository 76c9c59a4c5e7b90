import { describe, expect, it } from 'vitest';
import {
  NEW_RULE,
  REMEDIATION_FIELDS,
  RULE_FIELDS,
  fieldsNamed,
  remediationInput,
  ruleInput,
  silenceInput,
  thresholdLabel,
} from './operations-forms';

describe('alert rule form', () => {
  it('sends an empty threshold and percentile as null (the policy gives them) and typed numbers as numbers', () => {
    const r = ruleInput({ ...NEW_RULE, name: ' slow ', forSeconds: '30' });
    expect(r.ok).toBe(true);
    expect(r.ok && r.input).toMatchObject({
      name: 'slow',
      threshold: null,
      percentile: null,
      scenario: null,
      forSeconds: 30,
      lookbackSeconds: 60,
    });
  });

  it('refuses text where a number goes, naming the field, without asking the server', () => {
    expect(ruleInput({ ...NEW_RULE, threshold: 'fast' })).toMatchObject({ ok: false, field: 'threshold' });
    expect(ruleInput({ ...NEW_RULE, forSeconds: '' })).toMatchObject({ ok: false, field: 'forSeconds' });
  });

  it('finds the fields a server refusal names, in the AppError and the zod issue forms', () => {
    expect(fieldsNamed('invalid alert rule: threshold: a latency_ms threshold must be above 0; forSeconds: too long', RULE_FIELDS)).toEqual(
      ['threshold', 'forSeconds'],
    );
    expect(fieldsNamed('invalid remediation settings: rateFactor: rateFactor must be below 1', REMEDIATION_FIELDS)).toEqual(['rateFactor']);
    expect(fieldsNamed('an alert rule named x exists', RULE_FIELDS)).toEqual([]);
  });

  it("says a rule without a threshold takes the policy's, and a condition has none", () => {
    expect(thresholdLabel({ metric: 'latency_ms', threshold: null })).toBe("the policy's");
    expect(thresholdLabel({ metric: 'device_offline', threshold: null })).toBe('condition');
    expect(thresholdLabel({ metric: 'memory_headroom_mb', threshold: 256 })).toBe('256');
  });
});

describe('silence form', () => {
  it('turns label=value pairs and hours into the silence input', () => {
    expect(
      silenceInput({
        matchers: 'alertname=latency_over_target, scenario = financial_trading',
        durationHours: '1.5',
        comment: ' maintenance ',
      }),
    ).toEqual({
      ok: true,
      input: {
        matchers: [
          { name: 'alertname', value: 'latency_over_target' },
          { name: 'scenario', value: 'financial_trading' },
        ],
        durationSeconds: 5_400,
        comment: 'maintenance',
      },
    });
  });

  it('refuses a matcher that is not label=value or names an unknown label', () => {
    expect(silenceInput({ matchers: 'alertname', durationHours: '1', comment: 'x' })).toMatchObject({ ok: false, field: 'matchers' });
    const unknown = silenceInput({ matchers: 'colour=red', durationHours: '1', comment: 'x' });
    expect(unknown.ok === false && unknown.message).toMatch(/unknown label "colour"/);
    expect(silenceInput({ matchers: '', durationHours: '1', comment: 'x' })).toMatchObject({ ok: false, field: 'matchers' });
  });
});

describe('remediation settings form', () => {
  const draft = {
    mode: 'auto',
    maxDevicesPerHour: '5',
    maxPercentPerHour: '',
    holdOffSeconds: '900',
    checkWindowSeconds: '300',
    rateFactor: '0.5',
    dutyCycle: '0.5',
  };
  it('sends an empty share limit as null (no share limit) and the rest as numbers', () => {
    expect(remediationInput(draft)).toEqual({
      ok: true,
      input: {
        mode: 'auto',
        maxDevicesPerHour: 5,
        maxPercentPerHour: null,
        holdOffSeconds: 900,
        checkWindowSeconds: 300,
        rateFactor: 0.5,
        dutyCycle: 0.5,
      },
    });
  });
  it('refuses text where a number goes, naming the field', () => {
    expect(remediationInput({ ...draft, holdOffSeconds: 'soon' })).toMatchObject({ ok: false, field: 'holdOffSeconds' });
  });
});
