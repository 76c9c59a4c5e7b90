/**
 * Concurrent callers of the same read (the same key) share one run of it, and none gets an answer
 * older than its call: a caller arriving while a run is under way waits for the next run, which
 * starts when that one ends and answers every caller that arrived meanwhile. So under N concurrent
 * callers the read runs at most once at a time per key, not N times side by side, at the price of
 * waiting out at most one run begun before the call (issue 15: 32 dashboards polling the fleet
 * overview queued 32 scans of the device table on two cores).
 */
export class SharedRead<T> {
  private readonly runs = new Map<string, { current: Promise<T>; next: Promise<T> | null; begun: boolean }>();

  constructor(private readonly read: (key: string) => Promise<T>) {}

  get(key: string): Promise<T> {
    const state = this.runs.get(key);
    if (!state) return this.start(key);
    // a run not begun yet reads after this call: join it
    if (!state.begun) return state.current;
    const settled = () => undefined;
    state.next ??= state.current.then(settled, settled).then(() => this.start(key));
    return state.next;
  }

  /**
   * A run begins on the next turn of the event loop (setImmediate), so the requests read off the
   * sockets in this turn all join it.
   */
  private start(key: string): Promise<T> {
    const state: { current: Promise<T>; next: Promise<T> | null; begun: boolean } = {
      current: new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
        state.begun = true;
        return this.read(key);
      }),
      next: null,
      begun: false,
    };
    this.runs.set(key, state);
    const done = () => {
      if (this.runs.get(key) === state) this.runs.delete(key);
    };
    state.current.then(done, done);
    return state.current;
  }
}
