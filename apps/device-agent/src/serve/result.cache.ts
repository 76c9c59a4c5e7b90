import { createHash } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import type { ServedTensor } from '../engine/served-tensor.js';

/** A cached answer, and the measured run time of the run that produced it: what a hit saves (estimated). */
export interface CachedAnswer {
  outputs: Record<string, ServedTensor>;
  inferenceMs: number;
}

interface Entry extends CachedAnswer {
  at: number;
}

/**
 * LRU of answers, off unless configured. The key hashes the active model's sha256 with every input's
 * name, type, dims and bytes, so no cached answer outlives its model version and no two inputs share one.
 * The caller keeps models with state inputs out: their answer depends on state the key cannot see.
 */
export class ResultCache {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly maxEntries: number,
    private readonly ttlMs: number,
    private readonly clock: Clock,
  ) {}

  static key(modelSha256: string, inputs: Readonly<Record<string, ServedTensor>>): string {
    const h = createHash('sha256').update(modelSha256);
    for (const name of Object.keys(inputs).sort()) {
      const t = inputs[name];
      if (t === undefined) continue;
      h.update(`\0${name}\0${t.type}\0${t.dims.join(',')}\0`);
      h.update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    }
    return h.digest('hex');
  }

  get(key: string): CachedAnswer | null {
    const entry = this.entries.get(key);
    if (entry === undefined) return null;
    this.entries.delete(key);
    if (this.clock.now() - entry.at > this.ttlMs) return null;
    this.entries.set(key, entry); // most recently used last
    return entry;
  }

  set(key: string, outputs: Record<string, ServedTensor>, inferenceMs: number): void {
    this.entries.delete(key);
    this.entries.set(key, { outputs, inferenceMs, at: this.clock.now() });
    for (const oldest of this.entries.keys()) {
      if (this.entries.size <= this.maxEntries) break;
      this.entries.delete(oldest);
    }
  }

  /** The settings it was made with: an unchanged setting keeps the cache (and its entries). */
  sameAs(maxEntries: number, ttlMs: number): boolean {
    return maxEntries === this.maxEntries && ttlMs === this.ttlMs;
  }

  get size(): number {
    return this.entries.size;
  }
}
