import { join } from 'node:path';
import { z } from 'zod';
import type { Logger } from '../core/logger.js';
import { readJsonFile, writeJsonAtomic } from '../storage/atomic-file.js';

const KeyFloorFileSchema = z.strictObject({ schema: z.literal(1), minKeySerial: z.int().min(0) });

/**
 * The lowest signing-key serial this device still trusts (TUF's rule for rotated keys): raised to
 * the serial of every desired state the device accepts, kept on disk across restarts, never
 * lowered. After the control plane rotates its signing key and the device has accepted one state
 * under the new key, nothing signed by the old one is accepted again — not even by a replica that
 * leaked it. 0 until the first state: any root-certified key.
 */
export class KeyFloor {
  private serial = 0;
  private writes: Promise<void> = Promise.resolve();

  constructor(
    private readonly dataDir: string,
    private readonly logger: Logger,
  ) {}

  get path(): string {
    return join(this.dataDir, 'trust.json');
  }

  get value(): number {
    return this.serial;
  }

  async load(): Promise<void> {
    this.serial = (await readJsonFile(this.path, KeyFloorFileSchema))?.minKeySerial ?? 0;
  }

  /** After a verified state signed under `serial`: a higher serial becomes the floor, saved before the next write. */
  raise(serial: number): void {
    if (serial <= this.serial) return;
    const from = this.serial;
    this.serial = serial;
    if (from > 0)
      this.logger.info('signing key rotated: keys below this serial are no longer trusted', { minKeySerial: serial, was: from });
    this.writes = this.writes
      .then(() => writeJsonAtomic(this.path, { schema: 1, minKeySerial: this.serial }))
      .catch((e: unknown) => this.logger.error('key floor not saved', { error: e instanceof Error ? e.message : String(e) }));
  }

  /** Resolves once every raise so far is on disk. */
  flushed(): Promise<void> {
    return this.writes;
  }
}
