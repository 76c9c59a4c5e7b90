export { mulberry32, type Random } from '@edge-fleet/shared/random';
import type { Random } from '@edge-fleet/shared/random';

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
