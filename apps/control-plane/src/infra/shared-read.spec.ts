import { describe, expect, it } from 'vitest';
import { SharedRead, type SharedReadOptions } from './shared-read.js';

/** A read whose runs the test finishes by hand, answering the value stored when each run started. */
function manualRead(options: SharedReadOptions = {}) {
  const runs: { key: string; value: number; finish: () => void; fail: (e: Error) => void }[] = [];
  let stored = 0;
  const shared = new SharedRead<number>(
    (key) =>
      new Promise<number>((resolve, reject) => {
        const value = stored;
        runs.push({ key, value, finish: () => resolve(value), fail: reject });
      }),
    options,
  );
  return { shared, runs, write: (v: number) => (stored = v) };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));
/** Turns of the event loop until `n` runs have begun (a run begins on the turn after it is due). */
async function runsBegun(runs: unknown[], n: number) {
  for (let i = 0; i < 20 && runs.length < n; i++) await tick();
  expect(runs).toHaveLength(n);
}

describe('SharedRead: concurrent callers share one run, never an answer older than their call', () => {
  it('callers arriving together share one run; callers arriving during it share the next, which starts when it ends and sees what was written before they called', async () => {
    const { shared, runs, write } = manualRead();
    const first = [shared.get('k'), shared.get('k')];
    await runsBegun(runs, 1);
    write(1);
    // arrived while the first run (begun before the write) is under way: they must not get its answer
    const second = [shared.get('k'), shared.get('k'), shared.get('k')];
    await tick();
    expect(runs).toHaveLength(1);
    runs[0]?.finish();
    expect(await Promise.all(first)).toEqual([0, 0]);
    await runsBegun(runs, 2);
    runs[1]?.finish();
    expect(await Promise.all(second)).toEqual([1, 1, 1]);
    // once nothing runs, the next caller starts a run of its own
    write(2);
    const third = shared.get('k');
    await runsBegun(runs, 3);
    runs[2]?.finish();
    expect(await third).toBe(2);
  });

  it('keys do not share: each runs its own read', async () => {
    const { shared, runs } = manualRead();
    const [a, b] = [shared.get('a'), shared.get('b')];
    await runsBegun(runs, 2);
    expect(runs.map((r) => r.key)).toEqual(['a', 'b']);
    for (const r of runs) r.finish();
    await Promise.all([a, b]);
  });

  it("a failed run fails its callers alone: those waiting for the next run get that run's answer", async () => {
    const { shared, runs } = manualRead();
    const first = shared.get('k');
    await runsBegun(runs, 1);
    const second = shared.get('k');
    runs[0]?.fail(new Error('connection reset'));
    await expect(first).rejects.toThrow('connection reset');
    await runsBegun(runs, 2);
    runs[1]?.finish();
    expect(await second).toBe(0);
  });
});

describe('SharedRead with reuse: a slow read answers the callers of the next moments, within a bound', () => {
  /** Reads taking 100 ms or more are reused for 5 of their durations. */
  function slowRead() {
    let clock = 0;
    const read = manualRead({ reuseFor: (took) => (took >= 100 ? 5 * took : 0), now: () => clock });
    return { ...read, advance: (ms: number) => (clock += ms) };
  }

  it('a caller within the bound gets the latest answer without waiting; past half the bound it also starts the next run in the background', async () => {
    const { shared, runs, write, advance } = slowRead();
    const first = shared.get('k');
    await runsBegun(runs, 1);
    advance(200); // the run took 200 ms: reusable until 1,000 ms after it began, refreshed after 500
    runs[0]?.finish();
    expect(await first).toBe(0);
    write(1);
    advance(100); // 300 ms after the run began
    expect(await shared.get('k')).toBe(0);
    await tick();
    expect(runs).toHaveLength(1); // under half the bound: no new run
    advance(300); // 600 ms: past half the bound, still within it
    expect(await shared.get('k')).toBe(0);
    await runsBegun(runs, 2);
    advance(150);
    runs[1]?.finish();
    await tick();
    expect(await shared.get('k')).toBe(1); // the background run's answer, with no wait
    expect(runs).toHaveLength(2);
  });

  it('past the bound a caller waits for a run begun after its call: never an answer older than the bound', async () => {
    const { shared, runs, write, advance } = slowRead();
    const first = shared.get('k');
    await runsBegun(runs, 1);
    advance(200);
    runs[0]?.finish();
    await first;
    write(7);
    advance(900); // 1,100 ms after the run began: past its 1,000 ms
    const late = shared.get('k');
    await runsBegun(runs, 2);
    runs[1]?.finish();
    expect(await late).toBe(7);
  });

  it('past the bound a caller joins a run under way that began within the bound of its call, instead of waiting for the next', async () => {
    const { shared, runs, write, advance } = slowRead();
    const first = shared.get('k');
    await runsBegun(runs, 1);
    advance(200);
    runs[0]?.finish(); // reusable for 1,000 ms after it began, refreshed after 500
    await first;
    write(1);
    advance(400); // 600 ms: starts the background run
    expect(await shared.get('k')).toBe(0);
    await runsBegun(runs, 2);
    write(2);
    advance(500); // 1,100 ms: past the bound; the background run began 500 ms ago, within it
    const late = shared.get('k');
    await tick();
    expect(runs).toHaveLength(2); // no third run: it joined the one under way
    runs[1]?.finish();
    // without the join it would wait for a third run
    expect(await Promise.race([late, new Promise((resolve) => setTimeout(() => resolve('still waiting'), 50))])).toBe(1);
  });

  it('a run under way that began longer ago than the bound is not joined: the caller waits for one begun after its call', async () => {
    const { shared, runs, write, advance } = slowRead();
    const first = shared.get('k');
    await runsBegun(runs, 1);
    advance(200);
    runs[0]?.finish(); // bound: 1,000 ms after it began
    await first;
    advance(400); // 600 ms: the background run begins
    expect(await shared.get('k')).toBe(0);
    await runsBegun(runs, 2);
    write(5);
    advance(1_100); // the background run began 1,100 ms ago: past the bound
    const late = shared.get('k');
    await tick();
    runs[1]?.finish();
    await runsBegun(runs, 3);
    runs[2]?.finish();
    expect(await late).toBe(5);
  });

  it('a fast read is not reused: every caller after it gets a fresh run', async () => {
    const { shared, runs, write, advance } = slowRead();
    const first = shared.get('k');
    await runsBegun(runs, 1);
    advance(10);
    runs[0]?.finish();
    await first;
    write(3);
    const next = shared.get('k');
    await runsBegun(runs, 2);
    runs[1]?.finish();
    expect(await next).toBe(3);
  });

  it('answers past their bound are dropped when the next answer is stored: keys read once are not held for good', async () => {
    const { shared, runs, advance } = slowRead();
    for (const key of ['a', 'b', 'c']) {
      const got = shared.get(key);
      await runsBegun(runs, runs.length + 1);
      advance(200); // reusable for 1,000 ms after it began
      runs.at(-1)?.finish();
      await got;
    }
    expect(shared.held).toBe(3); // a, b and c began at 0, 200 and 400 ms: reusable until 1,000, 1,200 and 1,400
    advance(500);
    const d = shared.get('d');
    await runsBegun(runs, 4);
    advance(150); // d stored at 1,250 ms: a and b are past their bounds by then, c is not
    runs[3]?.finish();
    await d;
    expect(shared.held).toBe(2); // c and d
  });
});
