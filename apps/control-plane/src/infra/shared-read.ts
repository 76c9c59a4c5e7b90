/**
 * Concurrent callers of the same read (the same key) share one run of it, and none gets an answer
 * older than its call: a caller arriving while a run is under way waits for the next run, which
 * starts when that one ends and answers every caller that arrived meanwhile. So under N concurrent
 * callers the read runs at most once at a time per key, not N times side by side, at the price of
 * waiting out at most one run begun before the call (issue 15: 32 dashboards polling the fleet
 * overview queued 32 scans of the device table on two cores).
 *
 * A slow read may also serve callers arriving shortly after it (`reuseFor`): then a caller gets the
 * latest answer at once when its run began at most `reuseFor(run's duration)` ms before the call,
 * and a caller past half that age starts the next run in the background, so callers polling all the
 * time never wait and never see an answer older than the bound. A read of 200 ms reused for 1 s
 * serves 32 pollers at the cost of one run a half-second instead of every caller waiting 200–400 ms.
 * Past the bound, a caller joins a run already under way when that run began within the bound of
 * its call (the answer is then no older than a reused one could be): under load a background run can
 * outlast the bound, and the callers of that moment used to wait for it to end and then for a whole
 * run more (issue 15; measured on the overview at 32 connections, the p99 moved within the noise).
 */
export interface SharedReadOptions {
  /** For how long after it began an answer that took `tookMs` may serve later callers (0: never). */
  reuseFor?: (tookMs: number) => number;
  /** The clock, ms (tests). */
  now?: () => number;
}

interface Run<T> {
  current: Promise<T>;
  next: Promise<T> | null;
  /** When the read began (this.now()); null until it has (see start). */
  begunAt: number | null;
}

export class SharedRead<T> {
  private readonly runs = new Map<string, Run<T>>();
  private readonly latest = new Map<string, { value: T; begunAt: number; reusableUntil: number; refreshAfter: number }>();
  private readonly now: () => number;

  constructor(
    private readonly read: (key: string) => Promise<T>,
    private readonly options: SharedReadOptions = {},
  ) {
    this.now = options.now ?? (() => performance.now());
  }

  get(key: string): Promise<T> {
    const latest = this.latest.get(key);
    if (latest) {
      const t = this.now();
      if (t <= latest.reusableUntil) {
        if (t > latest.refreshAfter && !this.runs.has(key)) this.fresh(key).catch(() => undefined);
        return Promise.resolve(latest.value);
      }
      const running = this.runs.get(key);
      if (running?.begunAt != null && t - running.begunAt <= latest.reusableUntil - latest.begunAt) return running.current;
      this.latest.delete(key);
    }
    return this.fresh(key);
  }

  /** An answer from a run begun after this call. */
  private fresh(key: string): Promise<T> {
    const state = this.runs.get(key);
    if (!state) return this.start(key);
    // a run not begun yet reads after this call: join it
    if (state.begunAt === null) return state.current;
    const settled = () => undefined;
    state.next ??= state.current.then(settled, settled).then(() => this.start(key));
    return state.next;
  }

  /**
   * A run begins on the next turn of the event loop (setImmediate), so the requests read off the
   * sockets in this turn all join it.
   */
  private start(key: string): Promise<T> {
    const state: Run<T> = {
      current: new Promise<void>((resolve) => setImmediate(resolve)).then(async () => {
        const begunAt = this.now();
        state.begunAt = begunAt;
        const value = await this.read(key);
        this.remember(key, value, begunAt);
        return value;
      }),
      next: null,
      begunAt: null,
    };
    this.runs.set(key, state);
    const done = () => {
      if (this.runs.get(key) === state) this.runs.delete(key);
    };
    state.current.then(done, done);
    return state.current;
  }

  /** How many answers are held for reuse: one per key read within its bound, no more (see remember). */
  get held(): number {
    return this.latest.size;
  }

  private remember(key: string, value: T, begunAt: number): void {
    const now = this.now();
    // answers past their bound serve nobody: dropped here, so keys read once (a scope's token used
    // once) do not hold their answers for the life of the process
    for (const [k, l] of this.latest) if (l.reusableUntil < now) this.latest.delete(k);
    const reuse = this.options.reuseFor?.(now - begunAt) ?? 0;
    if (!(reuse > 0)) return void this.latest.delete(key);
    const held = this.latest.get(key);
    // runs of one key end in the order they began; keep the newest whatever the order
    if (held && held.begunAt > begunAt) return;
    this.latest.set(key, { value, begunAt, reusableUntil: begunAt + reuse, refreshAfter: begunAt + reuse / 2 });
  }
}
