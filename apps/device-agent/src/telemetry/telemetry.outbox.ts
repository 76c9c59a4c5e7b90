import { mkdir, open, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { type TelemetryWindow, TelemetryWindowSchema } from '@edge-fleet/shared';
import { z } from 'zod';
import { withTimeout } from '../core/async.js';
import type { Clock } from '../core/clock.js';
import { errorMessage, type Logger } from '../core/logger.js';
import { readJsonFile, writeFileAtomic, writeJsonAtomic } from '../storage/atomic-file.js';

export interface OutboxLimits {
  /** Disk the pending windows may take, each file counted in whole 4 KiB blocks. */
  maxBytes: number;
  /** A pending window whose end is older than this is dropped. */
  maxAgeMs: number;
}

export const DEFAULT_OUTBOX_LIMITS: OutboxLimits = { maxBytes: 10 * 1024 * 1024, maxAgeMs: 24 * 3_600_000 };

export interface OutboxDeps {
  dir: string;
  limits: OutboxLimits;
  clock: Clock;
  logger: Logger;
  /** Publishes one window at QoS 1; resolves on its PUBACK. */
  send: (msg: TelemetryWindow) => Promise<void>;
  /** Whether sending is worth trying now (the broker session is up). */
  canSend: () => boolean;
  /** A PUBACK not seen within this is treated as a failed send and retried later (60 s). */
  ackTimeoutMs?: number;
  /** The persisted drop count changed. */
  onDropped?: (droppedWindows: number) => void;
}

/**
 * What survives a crash besides the window files. Drops are always a prefix of the pending windows
 * (oldest first), so `droppedThrough` says which files a drop interrupted by a crash still has to
 * delete, and the count is never taken twice. `spared` is the window that was being published when
 * the drop happened: it is the oldest, is not dropped, and is removed only by its PUBACK.
 */
const OutboxStateSchema = z.strictObject({
  schema: z.literal(1),
  droppedWindows: z.int().min(0),
  droppedThrough: z.int().min(-1),
  spared: z.int().min(0).nullable(),
});
type OutboxState = z.infer<typeof OutboxStateSchema>;

interface Entry {
  n: number;
  file: string;
  windowEndMs: number;
  bytes: number;
}

const BLOCK = 4096;
const FILE = /^w-(\d{16})-(\d{1,16})\.json$/;

/**
 * Telemetry windows on disk until their PUBACK (RELIABILITY row 17). One file per window, written to
 * a temp file, fsynced, renamed and the directory fsynced: a kill at any moment leaves either the
 * whole window or none of it, and a file that does not parse (a disk fault) is dropped and counted,
 * never fatal. Windows are sent one at a time, oldest first, so they drain in the order produced;
 * each keeps the boot id and seq it was built with, so a resend after a crash is the same window
 * to the control plane, which keeps one row per (device, boot, seq).
 */
export class TelemetryOutbox {
  private entries: Entry[] = [];
  private state: OutboxState = { schema: 1, droppedWindows: 0, droppedThrough: -1, spared: null };
  private next = 0;
  private inFlight: number | null = null;
  private draining: Promise<void> | null = null;
  private stopped = false;
  /** Serialises appends and drops, which both rewrite the index and the state file. */
  private lock: Promise<void> = Promise.resolve();

  constructor(private readonly deps: OutboxDeps) {}

  get droppedWindows(): number {
    return this.state.droppedWindows;
  }

  get pending(): number {
    return this.entries.length;
  }

  /** Reads what a previous run left: finishes an interrupted drop, removes temp files, indexes the rest. */
  async open(): Promise<void> {
    const d = this.deps;
    await mkdir(d.dir, { recursive: true });
    try {
      this.state = (await readJsonFile(this.statePath, OutboxStateSchema)) ?? this.state;
    } catch (err) {
      // written atomically, so only a disk fault gets here: the count restarts rather than the agent stopping
      d.logger.error('telemetry outbox state unreadable; drop count restarts at 0', { error: errorMessage(err) });
    }
    const entries: Entry[] = [];
    for (const name of await readdir(d.dir)) {
      const m = FILE.exec(name);
      if (m === null) {
        // a temp file is a window whose write a kill interrupted: it was never stored, so never counted
        if (name.startsWith('.tmp-')) await rm(join(d.dir, name), { force: true });
        continue;
      }
      const n = Number(m[1]);
      if (n <= this.state.droppedThrough && n !== this.state.spared) {
        await rm(join(d.dir, name), { force: true });
        continue;
      }
      const { size } = await stat(join(d.dir, name));
      entries.push({ n, file: name, windowEndMs: Number(m[2]), bytes: blocks(size) });
    }
    this.entries = entries.sort((a, b) => a.n - b.n);
    // numbers only grow, so the order of files (and the drop watermark) holds across restarts
    this.next = Math.max(this.entries.at(-1)?.n ?? -1, this.state.droppedThrough) + 1;
    if (this.entries.length > 0 || this.state.droppedWindows > 0)
      d.logger.info('telemetry outbox opened', { pending: this.entries.length, droppedWindows: this.state.droppedWindows });
    await this.locked(() => this.enforceLimitsLocked());
  }

  /** Stores the window durably, applies the caps, and starts a drain. Resolves once it is on disk. */
  add(msg: TelemetryWindow): Promise<void> {
    const stored = this.locked(async () => {
      const n = this.next++;
      const windowEndMs = Date.parse(msg.windowEnd);
      const file = `w-${String(n).padStart(16, '0')}-${windowEndMs}.json`;
      const text = `${JSON.stringify(msg)}\n`;
      await writeFileAtomic(join(this.deps.dir, file), text);
      await fsyncDir(this.deps.dir);
      this.entries.push({ n, file, windowEndMs, bytes: blocks(Buffer.byteLength(text)) });
      await this.enforceLimitsLocked();
    });
    return stored.then(() => this.kick());
  }

  /** Starts sending the backlog if the session is up and no drain runs. */
  kick(): void {
    if (this.draining !== null || this.stopped || !this.deps.canSend()) return;
    this.draining = this.drain().finally(() => {
      this.draining = null;
    });
  }

  /** Resolves when the drain in progress (if any) ends. */
  async idle(): Promise<void> {
    await this.draining;
  }

  /** No new sends; a publish in flight stays on disk until a later run sees its PUBACK. */
  stop(): void {
    this.stopped = true;
  }

  private get statePath(): string {
    return join(this.deps.dir, 'outbox-state.json');
  }

  private async drain(): Promise<void> {
    const d = this.deps;
    while (!this.stopped && d.canSend()) {
      // in flight from here on, so a cap applied meanwhile spares it: it is either delivered or dropped, never both
      const head = await this.locked(async () => {
        await this.enforceLimitsLocked();
        const oldest = this.entries[0];
        this.inFlight = oldest?.n ?? null;
        return oldest;
      });
      if (head === undefined) return;
      let msg: TelemetryWindow;
      try {
        msg = TelemetryWindowSchema.parse(JSON.parse(await readFile(join(d.dir, head.file), 'utf8')));
      } catch (err) {
        d.logger.warn('telemetry outbox: unreadable window dropped', { file: head.file, error: errorMessage(err) });
        this.inFlight = null;
        await this.locked(() => (this.entries[0]?.n === head.n ? this.drop(1, 'unreadable', null) : Promise.resolve()));
        continue;
      }
      try {
        await withTimeout(d.send(msg), d.ackTimeoutMs ?? 60_000, 'PUBACK');
      } catch (err) {
        // still on disk; the next window or reconnect starts another drain
        this.inFlight = null;
        d.logger.warn('telemetry publish failed', { seq: msg.seq, bootId: msg.bootId, error: errorMessage(err) });
        return;
      }
      await this.locked(async () => {
        await rm(join(d.dir, head.file), { force: true });
        this.entries = this.entries.filter((e) => e.n !== head.n);
        this.inFlight = null;
      });
      d.logger.debug('telemetry published', { seq: msg.seq, bootId: msg.bootId, pending: this.entries.length });
    }
  }

  /** Drops the oldest windows (never the one in flight) past the age cap, then past the size cap. */
  private async enforceLimitsLocked(): Promise<void> {
    const { maxBytes, maxAgeMs } = this.deps.limits;
    const sparedN = this.entries[0]?.n === this.inFlight ? this.inFlight : null;
    const start = sparedN === null ? 0 : 1;
    const oldest = this.deps.clock.now() - maxAgeMs;
    let count = 0;
    while (this.entries[start + count] !== undefined && (this.entries[start + count]?.windowEndMs ?? 0) < oldest) count++;
    if (count > 0) await this.drop(count, 'age', sparedN);
    let total = this.entries.reduce((sum, e) => sum + e.bytes, 0);
    count = 0;
    while (total > maxBytes && this.entries[start + count] !== undefined) total -= this.entries[start + count++]?.bytes ?? 0;
    if (count > 0) await this.drop(count, 'size', sparedN);
  }

  /** Counts `count` windows after the spared one as dropped (persisted first), then deletes them. */
  private async drop(count: number, reason: 'age' | 'size' | 'unreadable', sparedN: number | null): Promise<void> {
    const start = sparedN === null ? 0 : 1;
    const victims = this.entries.slice(start, start + count);
    const last = victims.at(-1);
    if (last === undefined) return;
    this.state = {
      schema: 1,
      droppedWindows: this.state.droppedWindows + victims.length,
      droppedThrough: Math.max(this.state.droppedThrough, last.n),
      spared: sparedN,
    };
    await writeJsonAtomic(this.statePath, this.state);
    await fsyncDir(this.deps.dir);
    for (const v of victims) await rm(join(this.deps.dir, v.file), { force: true });
    const gone = new Set(victims.map((v) => v.n));
    this.entries = this.entries.filter((e) => !gone.has(e.n));
    this.deps.logger.warn('telemetry outbox dropped windows', {
      reason,
      dropped: victims.length,
      droppedWindows: this.state.droppedWindows,
      pending: this.entries.length,
    });
    this.deps.onDropped?.(this.state.droppedWindows);
  }

  private locked<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn);
    this.lock = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }
}

function blocks(size: number): number {
  return Math.max(1, Math.ceil(size / BLOCK)) * BLOCK;
}

/** Makes the renames in `dir` durable (a power cut after the rename would otherwise lose the entry). */
async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
