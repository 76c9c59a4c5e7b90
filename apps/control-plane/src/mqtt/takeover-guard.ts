/** When one identity's sessions take each other over too often (RELIABILITY row 13). */
export interface TakeoverLimits {
  /** Takeovers of one identity within `windowMs` that are tolerated (a device reconnecting over its own half-open session takes over once). */
  limit: number;
  windowMs: number;
  /** The first hold-off; each further one, while the identity has not been quiet for `windowMs` after its last, doubles up to 64×. */
  holdOffMs: number;
}

/** What to do with an authenticated CONNECT. */
export type TakeoverVerdict =
  | { admit: true; takeover: boolean }
  /** `storm`: this CONNECT is the takeover past the limit (raise the alarm once for it); otherwise the identity is held off already. */
  | { admit: false; retryAfterMs: number; storm: boolean; takeovers: number };

interface IdentityState {
  takeovers: number[];
  heldUntil: number;
  /** Hold-offs so far in this episode: the next is 2^strikes times the first. */
  strikes: number;
}

/** Identities tracked at most; past it, those with nothing recent are forgotten. */
const MAX_TRACKED = 10_000;

/**
 * Rate-limits the takeover ping-pong of a cloned identity: two clients with one device's
 * credentials each CONNECT as soon as the other took their session, so the session changes hands
 * every few hundred milliseconds and both keep working in turns. Past `limit` takeovers within
 * `windowMs`, every CONNECT of the identity is refused for a hold-off that doubles per repeat; the
 * session connected at that moment stays. Only identities that took over are tracked.
 */
export class TakeoverGuard {
  private readonly ids = new Map<string, IdentityState>();

  constructor(
    private readonly o: TakeoverLimits,
    private readonly now: () => number = Date.now,
  ) {}

  /** Called for every authenticated CONNECT; `takeover` when a live session of the same identity exists. */
  connect(id: string, takeover: boolean): TakeoverVerdict {
    const now = this.now();
    const s = this.ids.get(id);
    if (s && now < s.heldUntil) return { admit: false, retryAfterMs: s.heldUntil - now, storm: false, takeovers: s.takeovers.length };
    if (!takeover) return { admit: true, takeover: false };
    const state = s ?? this.track(id);
    state.takeovers = state.takeovers.filter((t) => now - t < this.o.windowMs);
    // quiet for a whole window since the last hold-off ended: a new episode starts from the first hold-off
    if (state.takeovers.length === 0 && now - state.heldUntil >= this.o.windowMs) state.strikes = 0;
    state.takeovers.push(now);
    if (state.takeovers.length <= this.o.limit) return { admit: true, takeover: true };
    const holdMs = this.o.holdOffMs * 2 ** Math.min(6, state.strikes);
    state.strikes += 1;
    state.heldUntil = now + holdMs;
    const takeovers = state.takeovers.length;
    state.takeovers = [];
    return { admit: false, retryAfterMs: holdMs, storm: true, takeovers };
  }

  private track(id: string): IdentityState {
    if (this.ids.size >= MAX_TRACKED) {
      const now = this.now();
      for (const [k, v] of this.ids)
        if (now >= v.heldUntil + this.o.windowMs && v.takeovers.every((t) => now - t >= this.o.windowMs)) this.ids.delete(k);
    }
    const state: IdentityState = { takeovers: [], heldUntil: 0, strikes: 0 };
    this.ids.set(id, state);
    return state;
  }
}
