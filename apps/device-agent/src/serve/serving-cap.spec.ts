import { describe, expect, it } from 'vitest';
import { FakeClock } from '../test-support/fake.clock.js';
import { ServingCap } from './serving-cap.js';

const ACTION = '0b8f3c1e-5d2a-4f6b-9c7d-1e2f3a4b5c6d';

describe('ServingCap (remediation caps on applications’ requests, M14)', () => {
  it('a rate cap admits one second of requests at once, then one per 1/rate, refusing the rest 429 with Retry-After and the action', async () => {
    const clock = new FakeClock();
    const cap = new ServingCap({ actionId: ACTION, maxRateHz: 2 }, clock);
    expect(cap.admit()).toBeNull();
    expect(cap.admit()).toBeNull();
    const refused = cap.admit();
    expect(refused?.status).toBe(429);
    expect(refused?.headers['retry-after']).toBe('1');
    expect(refused?.message).toMatch(new RegExp(`capped at 2 inferences/s \\(remediation ${ACTION}\\)`));
    await clock.advance(500);
    expect(cap.admit()).toBeNull();
    expect(cap.admit()?.status).toBe(429);
    // over 10 s at most 2 a second get through, whatever is asked
    let admitted = 0;
    for (let t = 0; t < 100; t++) {
      await clock.advance(100);
      for (let k = 0; k < 5; k++) if (cap.admit() === null) admitted++;
    }
    expect(admitted).toBeGreaterThanOrEqual(19);
    expect(admitted).toBeLessThanOrEqual(21);
  });

  it('low-power mode serves only the working share of each period, answering 503 with when it resumes', async () => {
    const clock = new FakeClock();
    const periodMs = 10_000;
    await clock.advance(periodMs - (clock.now() % periodMs)); // at the start of a period
    const cap = new ServingCap({ actionId: ACTION, dutyCycle: { duty: 0.3, periodMs } }, clock);
    expect(cap.admit()).toBeNull();
    await clock.advance(4_000); // 4 s into the period, past the 3 s working share
    const paused = cap.admit();
    expect(paused?.status).toBe(503);
    expect(paused?.message).toMatch(/low-power mode .*serving resumes in 6 s/);
    expect(paused?.headers['retry-after']).toBe('6');
    await clock.advance(6_000);
    expect(cap.admit()).toBeNull();
  });
});
