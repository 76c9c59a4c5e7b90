import { describe, expect, it } from 'vitest';
import { nextState, type Observation } from './alert-state.js';

const at = (s: number) => new Date(Date.UTC(2026, 11, 6, 0, 0, s));
const obs = (value: number, threshold = 10, hysteresis = 0.1): Observation => ({
  value,
  threshold,
  breach: value > threshold,
  clear: value < threshold * (1 - hysteresis),
});

describe('alert state machine', () => {
  it('fires only after the breach has lasted its for duration', () => {
    let s = nextState(null, obs(20), 30, at(0));
    expect(s).toMatchObject({ state: 'pending', transition: { from: 'inactive', to: 'pending' } });
    s = nextState(s, obs(20), 30, at(29));
    expect(s).toMatchObject({ state: 'pending', transition: null });
    s = nextState(s, obs(20), 30, at(30));
    expect(s).toMatchObject({ state: 'firing', transition: { from: 'pending', to: 'firing' }, activeAt: at(0) });
  });

  it('one good pass while pending starts the for duration over', () => {
    let s = nextState(null, obs(20), 30, at(0));
    s = nextState(s, obs(5), 30, at(10));
    expect(s).toMatchObject({ state: 'inactive', transition: { from: 'pending', to: 'inactive' } });
    s = nextState(s, obs(20), 30, at(20));
    s = nextState(s, obs(20), 30, at(40));
    expect(s.state).toBe('pending');
  });

  it('hysteresis: a firing alert stays firing while the value flaps around the threshold, resolves below the band', () => {
    let s = nextState(null, obs(20), 0, at(0));
    expect(s.state).toBe('firing');
    for (const [i, v] of [9.5, 10.5, 9.2, 11, 9.1].entries()) {
      s = nextState(s, obs(v), 0, at(i + 1));
      expect(s).toMatchObject({ state: 'firing', transition: null });
    }
    s = nextState(s, obs(8.9), 0, at(10));
    expect(s).toMatchObject({ state: 'resolved', transition: { from: 'firing', to: 'resolved' } });
  });

  it('no data: pending lapses, firing holds', () => {
    expect(nextState({ state: 'pending', activeAt: at(0) }, null, 30, at(5)).state).toBe('inactive');
    expect(nextState({ state: 'firing', activeAt: at(0) }, null, 30, at(5))).toMatchObject({ state: 'firing', transition: null });
  });

  it('a resolved alert that breaches again goes pending with a new start', () => {
    const s = nextState({ state: 'resolved', activeAt: at(0) }, obs(20), 30, at(100));
    expect(s).toMatchObject({ state: 'pending', activeAt: at(100), transition: { from: 'resolved', to: 'pending' } });
  });
});
