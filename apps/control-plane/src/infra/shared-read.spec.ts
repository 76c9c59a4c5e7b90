import { describe, expect, it } from 'vitest';
import { SharedRead } from './shared-read.js';

/** A read whose runs the test finishes by hand, answering the value stored when each run started. */
function manualRead() {
  const runs: { key: string; value: number; finish: () => void; fail: (e: Error) => void }[] = [];
  let stored = 0;
  const shared = new SharedRead<number>(
    (key) =>
      new Promise<number>((resolve, reject) => {
        const value = stored;
        runs.push({ key, value, finish: () => resolve(value), fail: reject });
      }),
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
