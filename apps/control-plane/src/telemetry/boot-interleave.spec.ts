import { describe, expect, it } from 'vitest';
import { BootInterleave } from './boot-interleave.js';

const s = (n: number) => n * 1_000;
/** Window `i` of a boot whose first window starts at `t0` seconds: five seconds each. */
const w = (t0: number, i: number): [number, number] => [s(t0 + 5 * i), s(t0 + 5 * i + 5)];

describe('interleaved boots (RELIABILITY row 13)', () => {
  it("row 13: a reboot, and the old boot's backlog drained after it, are not interleaving", () => {
    const b = new BootInterleave();
    for (let i = 0; i < 10; i++) expect(b.check('d', 'A', ...w(0, i))).toBeNull();
    // rebooted at 52 s: boot B's windows start after A's last one ended
    for (let i = 0; i < 10; i++) expect(b.check('d', 'B', ...w(52, i))).toBeNull();
    // A's windows that waited in the outbox arrive now: they lie before B
    for (let i = 0; i < 10; i++) expect(b.check('d', 'A', ...w(0, i))).toBeNull();
  });

  it('row 13: a second boot running beside the first is refused while the first keeps storing', () => {
    const b = new BootInterleave();
    expect(b.check('d', 'real', ...w(0, 0))).toBeNull();
    for (let i = 1; i < 10; i++) {
      expect(b.check('d', 'real', ...w(0, i))).toBeNull();
      expect(b.check('d', 'clone', ...w(1, i - 1))).toBe('real');
    }
    // another device with the same boot ids is its own story
    expect(b.check('e', 'clone', ...w(1, 0))).toBeNull();
  });

  it('row 13: a clock stepped back under a second at boot is tolerated', () => {
    const b = new BootInterleave();
    expect(b.check('d', 'A', s(0), s(10))).toBeNull();
    expect(b.check('d', 'B', s(9.5), s(14.5))).toBeNull();
  });
});
