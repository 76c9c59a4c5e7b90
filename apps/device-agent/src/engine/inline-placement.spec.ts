import { describe, expect, it } from 'vitest';
import { calibrationVerdict, INLINE_BUDGET, InlineWatch, runsInline } from './inline-placement.js';

const { warmupRuns, timedRuns, runMs, warmupCeilingMs, overBudgetAllowed } = INLINE_BUDGET;
const warm = (ms = 1): number[] => new Array<number>(warmupRuns).fill(ms);
const timed = (n: number, ms = 0.02): number[] => new Array<number>(n).fill(ms);

describe('calibrationVerdict', () => {
  it('keeps timing until the warm-up and every timed run are in', () => {
    expect(calibrationVerdict([])).toBe('undecided');
    expect(calibrationVerdict([...warm(), ...timed(timedRuns - 1)])).toBe('undecided');
    expect(calibrationVerdict([...warm(), ...timed(timedRuns)])).toBe('inline');
  });

  it('decides after the warm-up when every warm-up run is over the ceiling (a slow model pays the warm-up runs)', () => {
    expect(calibrationVerdict([warmupCeilingMs + 0.1])).toBe('undecided');
    expect(calibrationVerdict(warm(warmupCeilingMs + 0.1))).toBe('worker');
  });

  it('does not send a model to the worker for one slow warm-up run (its first run allocates; a busy machine stalls one)', () => {
    expect(calibrationVerdict([warmupCeilingMs + 3, ...warm().slice(1), ...timed(timedRuns)])).toBe('inline');
  });

  it('tolerates a quarter of the timed runs stalled but not more: the 75th percentile decides', () => {
    expect(overBudgetAllowed).toBe(Math.floor(timedRuns / 4));
    const slow = runMs + 0.01;
    expect(calibrationVerdict([...warm(), ...timed(overBudgetAllowed, slow), ...timed(timedRuns - overBudgetAllowed)])).toBe('inline');
    expect(calibrationVerdict([...warm(), ...timed(overBudgetAllowed + 1, slow)])).toBe('worker');
  });

  it('does not count the warm-up runs against the budget', () => {
    expect(calibrationVerdict([...warm(warmupCeilingMs), ...timed(timedRuns)])).toBe('inline');
  });
});

describe('runsInline', () => {
  const fast = [...warm(), ...timed(timedRuns)];

  it('takes a fast model inline', () => {
    expect(runsInline({ loadMs: 3, latenciesMs: fast, failed: false })).toBe(true);
  });

  it('leaves it in the worker when its load would stall the main loop too long', () => {
    expect(runsInline({ loadMs: INLINE_BUDGET.loadMs + 1, latenciesMs: fast, failed: false })).toBe(false);
  });

  it('leaves it in the worker when a calibration run failed (its runs report the error from there)', () => {
    expect(runsInline({ loadMs: 3, latenciesMs: fast, failed: true })).toBe(false);
  });
});

describe('InlineWatch', () => {
  const { slowRunMs, slowRunsToLeave, slowWindowRuns } = INLINE_BUDGET;
  const slow = slowRunMs + 1;

  it('lets an inline model go once most runs in the window were slow', () => {
    const watch = new InlineWatch();
    const verdicts = Array.from({ length: slowRunsToLeave }, () => watch.note(slow));
    expect(verdicts.at(-1)).toBe(true);
    expect(verdicts.slice(0, -1).every((v) => !v)).toBe(true);
  });

  it('keeps it through bursts of stalled runs (a shared VM stalls a few runs in a row)', () => {
    const watch = new InlineWatch();
    for (let round = 0; round < 10; round++) {
      for (let i = 0; i < slowRunsToLeave - 1; i++) expect(watch.note(slow)).toBe(false);
      for (let i = 0; i < slowWindowRuns; i++) expect(watch.note(0.01)).toBe(false);
    }
  });

  it('does not count failed runs (no latency) as slow', () => {
    const watch = new InlineWatch();
    for (let i = 0; i < slowWindowRuns; i++) expect(watch.note(null)).toBe(false);
  });
});
