import type { KeyObject } from 'node:crypto';
import { Worker } from 'node:worker_threads';

/** One signed value: the exact JSON bytes (base64) and their Ed25519 signature (base64). */
export interface SignedBytes {
  payload: string;
  signature: string;
}

type Request = { kind: 'key'; key: KeyObject } | { kind: 'sign'; id: number; values: unknown[] };
type Reply = { id: number; signed: SignedBytes[] } | { id: number; error: string };

// Plain JavaScript evaluated in the thread (`eval: true`): the same source runs from `dist` and from
// vitest's TypeScript, with no worker file to locate. It only stringifies and signs: the bytes it
// signs are the bytes it returns, as SigningService.signJson does inline.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { sign } = require('node:crypto');
let key = null;
parentPort.on('message', (m) => {
  if (m.kind === 'key') { key = m.key; return; }
  try {
    if (key === null) throw new Error('no signing key handed to this thread');
    const signed = m.values.map((v) => {
      const bytes = Buffer.from(JSON.stringify(v));
      return { payload: bytes.toString('base64'), signature: sign(null, bytes, key).toString('base64') };
    });
    parentPort.postMessage({ id: m.id, signed });
  } catch (e) {
    parentPort.postMessage({ id: m.id, error: e instanceof Error ? e.message : String(e) });
  }
});
`;

interface Thread {
  worker: Worker;
  /** The key this thread holds: a key is posted to a thread only when it changed (a rotation), never per batch. */
  key: KeyObject | null;
  /** Values handed to it and not answered yet: the next batch goes to the least loaded thread. */
  load: number;
}

/**
 * Ed25519 signing on worker threads, so a fan-out's thousands of signatures (each JSON.stringify +
 * base64 + sign, ~60 µs) leave the event loop that runs the broker and the API. Each thread gets the
 * signing key once, and again only after a rotation; a batch is split across the threads.
 */
export class SigningPool {
  private readonly threads: Thread[];
  private readonly pending = new Map<number, { resolve: (s: SignedBytes[]) => void; reject: (e: Error) => void }>();
  private nextId = 0;
  private closed = false;

  constructor(size: number) {
    this.threads = Array.from({ length: size }, () => this.spawn());
  }

  get size(): number {
    return this.threads.length;
  }

  private spawn(): Thread {
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    // an idle pool must not keep a process alive that is otherwise done
    worker.unref();
    const thread: Thread = { worker, key: null, load: 0 };
    worker.on('message', (r: Reply) => {
      const p = this.pending.get(r.id);
      if (!p) return;
      this.pending.delete(r.id);
      if ('error' in r) p.reject(new Error(`signing thread: ${r.error}`));
      else p.resolve(r.signed);
    });
    worker.on('error', (e) => this.fail(e));
    worker.on('exit', (code) => {
      if (!this.closed) this.fail(new Error(`signing thread exited (code ${code})`));
    });
    return thread;
  }

  /** A thread that died takes every unanswered batch with it: their callers see the error. */
  private fail(e: Error): void {
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  /**
   * Signs each value's JSON with `key`, split over the threads in contiguous slices; the answer keeps
   * the order of `values`.
   */
  async sign(values: readonly unknown[], key: KeyObject): Promise<SignedBytes[]> {
    if (this.closed) throw new Error('the signing pool is closed');
    if (values.length === 0) return [];
    const per = Math.ceil(values.length / this.threads.length);
    const parts: Promise<SignedBytes[]>[] = [];
    const byLoad = [...this.threads].sort((x, y) => x.load - y.load);
    for (let i = 0, t = 0; i < values.length; i += per, t++) {
      const thread = byLoad[t % byLoad.length];
      if (!thread) break;
      parts.push(this.post(thread, values.slice(i, i + per), key));
    }
    return (await Promise.all(parts)).flat();
  }

  private post(thread: Thread, values: unknown[], key: KeyObject): Promise<SignedBytes[]> {
    if (thread.key !== key) {
      thread.worker.postMessage({ kind: 'key', key } satisfies Request);
      thread.key = key;
    }
    const id = this.nextId++;
    thread.load += values.length;
    return new Promise<SignedBytes[]>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      thread.worker.postMessage({ kind: 'sign', id, values } satisfies Request);
    }).finally(() => {
      thread.load -= values.length;
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.fail(new Error('the signing pool is closed'));
    await Promise.all(this.threads.map((t) => t.worker.terminate()));
  }
}
