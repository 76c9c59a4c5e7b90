import { describe, expect, it } from 'vitest';
import { ReturningBoots } from './returning-boots.js';

describe('ReturningBoots', () => {
  it('takes reboots, each a new boot id, as one device', () => {
    const r = new ReturningBoots();
    for (const boot of ['a', 'b', 'c', 'd', 'e', 'f']) expect(r.online('dev', boot)).toBeNull();
    expect(r.online('dev', 'f')).toBeNull();
  });

  it('row 13: reports the second return of an old boot (A, B, A, B, A) as a clone, naming the newer boot', () => {
    const r = new ReturningBoots();
    expect(r.online('dev', 'a')).toBeNull();
    expect(r.online('dev', 'b')).toBeNull();
    // one return could be a late delivery
    expect(r.online('dev', 'a')).toBeNull();
    expect(r.online('dev', 'b')).toBe('a');
  });

  it('counts returns per device and forgets them after ten minutes', () => {
    const r = new ReturningBoots();
    const t0 = 1_000_000;
    for (const [dev, boot] of [
      ['x', 'a'],
      ['y', 'c'],
      ['x', 'b'],
      ['y', 'd'],
    ] as const)
      r.online(dev, boot, t0);
    expect(r.online('x', 'a', t0)).toBeNull();
    expect(r.online('y', 'c', t0)).toBeNull();
    // the second return of x, but eleven minutes later: counted afresh
    expect(r.online('x', 'b', t0 + 11 * 60_000)).toBeNull();
    expect(r.online('x', 'a', t0 + 11 * 60_000 + 1)).toBe('b');
  });
});
