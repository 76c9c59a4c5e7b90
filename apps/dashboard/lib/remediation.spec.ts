import { describe, expect, it } from 'vitest';
import { changeLabel, outcomeLabel, overrideLabel } from './remediation';

const none = { variantId: null, precision: null, maxRateHz: null, dutyCycle: null };

describe('remediation labels', () => {
  it('names what an override changes: precision, rate cap, low-power duty cycle', () => {
    expect(overrideLabel(null)).toBe('nothing (as assigned)');
    expect(overrideLabel({ ...none, precision: 'int8', variantId: 'v8' })).toBe('INT8');
    expect(overrideLabel({ ...none, maxRateHz: 5, dutyCycle: 0.5 })).toBe('rate ≤ 5 Hz, low-power 50 % duty');
    expect(changeLabel({ before: { ...none, precision: 'fp16' }, after: { ...none, precision: 'int8', variantId: 'v8' } })).toBe(
      'FP16 → INT8',
    );
  });

  it('says whether it helped, with the figure the check recorded', () => {
    expect(outcomeLabel({ status: 'helped', figuresAfter: { metric: 'latency_ms', value: 3 } })).toBe(
      'helped: the alert ended (latency_ms 3 at the check)',
    );
    expect(outcomeLabel({ status: 'failed', figuresAfter: null })).toBe('did not help: reverted');
    expect(outcomeLabel({ status: 'pending', figuresAfter: null })).toBe('waiting for an operator');
  });
});
