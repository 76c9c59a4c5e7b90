import { describe, expect, it } from 'vitest';
import { TakeoverGuard } from './takeover-guard.js';

function guard() {
  const clock = { t: 1_000_000 };
  const g = new TakeoverGuard({ limit: 3, windowMs: 60_000, holdOffMs: 10_000 }, () => clock.t);
  return { g, clock };
}

describe('takeover guard (RELIABILITY row 13)', () => {
  it('row 13: admits first connects and a few takeovers, as a device reconnecting over its own half-open session does', () => {
    const { g, clock } = guard();
    expect(g.connect('d', false)).toEqual({ admit: true, takeover: false });
    for (let i = 0; i < 3; i++) {
      clock.t += 1_000;
      expect(g.connect('d', true)).toEqual({ admit: true, takeover: true });
    }
  });

  it('row 13: refuses every CONNECT of the identity for a hold-off once takeovers pass the limit in the window', () => {
    const { g, clock } = guard();
    for (let i = 0; i < 3; i++) g.connect('d', true);
    const v = g.connect('d', true);
    expect(v).toEqual({ admit: false, retryAfterMs: 10_000, storm: true, takeovers: 4 });
    clock.t += 5_000;
    // held off: a plain CONNECT too (the other clone after the connected one dropped), not a new storm
    expect(g.connect('d', false)).toEqual({ admit: false, retryAfterMs: 5_000, storm: false, takeovers: 0 });
    // other identities are not affected
    expect(g.connect('e', true)).toEqual({ admit: true, takeover: true });
    clock.t += 5_000;
    expect(g.connect('d', false)).toEqual({ admit: true, takeover: false });
  });

  it('row 13: doubles the hold-off while the ping-pong goes on, and starts over after a quiet window', () => {
    const { g, clock } = guard();
    const storm = () => {
      let v = g.connect('d', true);
      while (v.admit) v = g.connect('d', true);
      return v;
    };
    expect(storm()).toMatchObject({ retryAfterMs: 10_000 });
    clock.t += 10_000;
    expect(storm()).toMatchObject({ retryAfterMs: 20_000 });
    clock.t += 20_000;
    expect(storm()).toMatchObject({ retryAfterMs: 40_000 });
    clock.t += 40_000 + 60_000;
    expect(storm()).toMatchObject({ retryAfterMs: 10_000 });
  });

  it('row 13: takeovers spread wider than the window are not a storm', () => {
    const { g, clock } = guard();
    for (let i = 0; i < 20; i++) {
      clock.t += 30_000;
      expect(g.connect('d', true).admit).toBe(true);
    }
  });
});
