/**
 * Whether a model runs on the agent's main thread ("inline") or in the inference worker, decided
 * from the model's own run times, measured in the worker right after it loaded.
 *
 * Why: a worker hop (two thread wake-ups, a structured clone each way) costs ~0.1 ms per run on a
 * 2-core device (pnpm bench:agent: 128 µs per run through the worker for a 10 µs session.run), so for
 * small models it is most of the latency, and the worker's second V8 isolate costs ~25 MB of RSS.
 * It is only worth it when session.run itself would hold the main loop long enough to matter.
 *
 * Budget: a run that takes ≤ 0.5 ms blocks the main loop for ≤ 0.5 ms, a tenth of the 5 ms
 * event-loop-delay goal, so even a 5× slowdown from a busy machine stays inside it; onnxruntime-node
 * starts each run from setImmediate, so the loop gets a turn (timers, MQTT I/O) between runs. Above
 * 0.5 ms the hop is ≤ 20 % of the run and the worker is the safe place.
 */
export type InlineBudget = Readonly<
  Record<
    | 'runMs'
    | 'warmupRuns'
    | 'warmupCeilingMs'
    | 'timedRuns'
    | 'overBudgetAllowed'
    | 'loadMs'
    | 'slowRunMs'
    | 'slowRunsToLeave'
    | 'slowWindowRuns',
    number
  >
>;

export const INLINE_BUDGET: InlineBudget = Object.freeze({
  /** A run at or under this, measured, may block the main loop. */
  runMs: 0.5,
  /** First runs, held only to `warmupCeilingMs` (onnxruntime allocates on the first run). */
  warmupRuns: 2,
  /**
   * Warm-up runs all this slow already show a slow model: decide without timing more runs. All of
   * them: a model's first run allocates, and a busy machine stalls one run now and then.
   */
  warmupCeilingMs: 5,
  /** Runs timed after the warm-up. */
  timedRuns: 20,
  /**
   * Timed runs allowed over `runMs` — stalls of a busy machine, which only ever add to a run — i.e.
   * the 75th percentile decides: the model's own cost, not the machine's noise (2, the 90th, sent
   * a 38 KB MLP to the worker 3 times in 3 on a quiet machine and at any load).
   */
  overBudgetAllowed: 5,
  /** Loading inline blocks the main loop once; only when the worker's load took at most this. */
  loadMs: 50,
  /** Served inline, a run this slow (4× `runMs`) counts against the model ... */
  slowRunMs: 2,
  /** ... and this many of them within `slowWindowRuns` runs (a majority: see InlineWatch) send it to a worker. */
  slowRunsToLeave: 11,
  slowWindowRuns: 20,
});

export type Verdict = 'inline' | 'worker' | 'undecided';

/**
 * The verdict after the calibration runs so far (ms, warm-up runs first). Stops as early as the answer
 * is known, so a slow model costs one or a few extra runs at load, never `timedRuns` of them.
 */
export function calibrationVerdict(latenciesMs: readonly number[], budget: InlineBudget = INLINE_BUDGET): Verdict {
  const warmup = latenciesMs.slice(0, budget.warmupRuns);
  if (warmup.length >= budget.warmupRuns && warmup.every((ms) => ms > budget.warmupCeilingMs)) return 'worker';
  const timed = latenciesMs.slice(budget.warmupRuns);
  if (timed.filter((ms) => ms > budget.runMs).length > budget.overBudgetAllowed) return 'worker';
  return timed.length >= budget.timedRuns ? 'inline' : 'undecided';
}

/** What the worker measured after loading; a calibration run that failed leaves the model in the worker. */
export interface Calibration {
  loadMs: number;
  latenciesMs: number[];
  failed: boolean;
}

/** The figures behind runsInline, in words: logged at every load, printed by the benchmarks. */
export function placementBasis(c: Calibration, budget: InlineBudget = INLINE_BUDGET): string {
  const where = runsInline(c, budget) ? 'inline' : 'worker';
  if (c.failed) return `${where}: a calibration run failed`;
  const warm = c.latenciesMs.slice(0, budget.warmupRuns);
  const timed = [...c.latenciesMs.slice(budget.warmupRuns)].sort((a, b) => a - b);
  const ms = (n: number) => `${Math.round(n * 1000) / 1000} ms`;
  const parts = [`load ${ms(c.loadMs)} (inline at most ${budget.loadMs} ms)`];
  if (timed.length === 0) parts.push(`warm-up runs ${warm.map(ms).join(', ')} (all over ${budget.warmupCeilingMs} ms: slow)`);
  else {
    const rank = Math.max(0, timed.length - 1 - budget.overBudgetAllowed);
    parts.push(
      `${timed.length - budget.overBudgetAllowed} of ${timed.length} timed runs within ${ms(timed[rank] ?? Number.NaN)} ` +
        `(inline at most ${budget.runMs} ms)`,
    );
  }
  return `${where}: ${parts.join(', ')}`;
}

export function runsInline(c: Calibration, budget: InlineBudget = INLINE_BUDGET): boolean {
  return !c.failed && c.loadMs <= budget.loadMs && calibrationVerdict(c.latenciesMs, budget) === 'inline';
}

/**
 * Watches the runs of an inline model: the calibration cannot see a model whose run time depends on
 * its inputs, or a device that got busier. True once the model should leave the main thread.
 *
 * By wall clock, and on a majority: a shared VM stalls a thread for 5-20 ms now and then (steal
 * time, which even counts as the process's CPU time), and bursts of those hit a few runs in a row
 * (seen in pnpm bench:agent: 3 of 20 runs of a 10 µs model over 2 ms), while a model that has really
 * turned slow is slow on nearly every run.
 */
export class InlineWatch {
  private run = 0;
  private slowRuns: number[] = [];

  constructor(private readonly budget: InlineBudget = INLINE_BUDGET) {}

  note(latencyMs: number | null): boolean {
    this.run++;
    if (latencyMs !== null && latencyMs > this.budget.slowRunMs) this.slowRuns.push(this.run);
    // nothing to forget on the usual path: no array allocated per run
    if (this.slowRuns.length > 0) this.slowRuns = this.slowRuns.filter((at) => at > this.run - this.budget.slowWindowRuns);
    return this.slowRuns.length >= this.budget.slowRunsToLeave;
  }
}
