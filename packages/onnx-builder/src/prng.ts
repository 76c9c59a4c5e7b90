/** A source of uniform numbers in [0, 1). */
export type Random = () => number;

/**
 * Mulberry32: a tiny seeded 32-bit PRNG, so the same seed gives the same weights and
 * therefore byte-identical model files on every machine.
 */
export function mulberry32(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `count` values drawn uniformly from [lo, hi), rounded to float32. */
export function uniform(random: Random, count: number, lo: number, hi: number): Float32Array {
  const out = new Float32Array(count);
  for (let i = 0; i < count; i += 1) out[i] = lo + (hi - lo) * random();
  return out;
}

/** Glorot/Xavier-uniform weights: keeps activations in a sane range through the layers. */
export function glorotUniform(random: Random, fanIn: number, fanOut: number, count = fanIn * fanOut): Float32Array {
  const limit = Math.sqrt(6 / (fanIn + fanOut));
  return uniform(random, count, -limit, limit);
}
