import { describe, expect, it } from 'vitest';
import { formatTick, linearScale, polylineSegments, timeTicks, yDomain } from './chart-scale';

describe('linearScale', () => {
  it('maps the domain ends onto the range ends, including inverted (SVG y) ranges', () => {
    const s = linearScale([0, 10], [200, 0]);
    expect(s(0)).toBe(200);
    expect(s(10)).toBe(0);
    expect(s(5)).toBe(100);
  });

  it('puts every value in the middle when the domain has zero width (a single point)', () => {
    const s = linearScale([1000, 1000], [40, 600]);
    expect(s(1000)).toBe(320);
  });
});

describe('yDomain', () => {
  it('starts at zero and ends on a nice tick above the largest value', () => {
    const { domain, ticks } = yDomain([3.2, 7.9, 4]);
    expect(domain[0]).toBe(0);
    expect(domain[1]).toBeGreaterThanOrEqual(7.9);
    expect(ticks[0]).toBe(0);
    expect(ticks.at(-1)).toBe(domain[1]);
    expect(ticks).toEqual([0, 2, 4, 6, 8, 10]);
  });

  it('includes the reference line so a latency target is always visible', () => {
    expect(yDomain([1, 2], 10).domain[1]).toBeGreaterThanOrEqual(10);
  });

  it('gives a usable [0, 1] domain with no data or only zeros', () => {
    expect(yDomain([]).domain).toEqual([0, 1]);
    expect(yDomain([0, 0]).domain).toEqual([0, 1]);
  });

  it('has tick labels without floating-point noise', () => {
    const { ticks } = yDomain([0.27]);
    for (const t of ticks) expect(String(t).length).toBeLessThanOrEqual(4);
  });
});

describe('timeTicks', () => {
  it('places ticks on whole minutes inside a 15-minute window', () => {
    const t0 = Date.UTC(2026, 0, 1, 12, 0, 30);
    const ticks = timeTicks([t0, t0 + 15 * 60_000]);
    expect(ticks.length).toBeGreaterThanOrEqual(4);
    expect(ticks.length).toBeLessThanOrEqual(6);
    for (const t of ticks) {
      expect(t % 60_000).toBe(0);
      expect(t).toBeGreaterThanOrEqual(t0);
      expect(t).toBeLessThanOrEqual(t0 + 15 * 60_000);
    }
  });
});

describe('polylineSegments', () => {
  const id = (v: number) => v;

  it('joins consecutive points into one polyline', () => {
    expect(
      polylineSegments(
        [
          { x: 0, y: 1 },
          { x: 1, y: 2 },
          { x: 2, y: 3 },
        ],
        id,
        id,
      ),
    ).toEqual(['0,1 1,2 2,3']);
  });

  it('breaks the line where a value is missing instead of bridging the gap', () => {
    const segs = polylineSegments(
      [
        { x: 0, y: 1 },
        { x: 1, y: null },
        { x: 2, y: 3 },
        { x: 3, y: 4 },
      ],
      id,
      id,
    );
    expect(segs).toEqual(['0,1', '2,3 3,4']);
  });

  it('returns nothing for no points and a lone point for one', () => {
    expect(polylineSegments([], id, id)).toEqual([]);
    expect(polylineSegments([{ x: 5, y: 5 }], id, id)).toEqual(['5,5']);
  });

  it('applies the scales', () => {
    const sx = linearScale([0, 10], [0, 100]);
    const sy = linearScale([0, 10], [100, 0]);
    expect(polylineSegments([{ x: 5, y: 2.5 }], sx, sy)).toEqual(['50,75']);
  });
});

describe('formatTick', () => {
  it('uses the decimals the tick step needs, the same for every tick of an axis', () => {
    expect([0, 2, 4].map((t) => formatTick(t, [0, 2, 4]))).toEqual(['0', '2', '4']);
    expect([0, 0.5, 1].map((t) => formatTick(t, [0, 0.5, 1]))).toEqual(['0.0', '0.5', '1.0']);
    expect(formatTick(0.02, [0, 0.01, 0.02])).toBe('0.02');
    expect(formatTick(200, [0, 100, 200])).toBe('200');
  });
});
