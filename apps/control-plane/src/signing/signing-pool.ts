import type { KeyObject } from 'node:crypto';
import { Worker } from 'node:worker_threads';

/** One signed value: the exact JSON bytes (base64) and their Ed25519 signature (base64). */
export interface SignedBytes {
  payload: string;
  signature: string;
}

type Request =
  | { kind: 'key'; key: KeyObject }
  | { kind: 'sign'; id: number; values: unknown[] }
  | { kind: 'envelopes'; id: number; values: unknown[]; signingKey: unknown };
type Reply = { id: number; signed: SignedBytes[] } | { id: number; envelopes: Uint8Array[] } | { id: number; error: string };

// Plain JavaScript evaluated in the thread (`eval: true`): the same source runs from `dist` and from
// vitest's TypeScript, with no worker file to locate. It only stringifies and signs: the bytes it
// signs are the bytes it returns, as SigningService.signJson does inline. An `envelopes` request also writes
// each whole envelope's JSON ({ payload, signature, signingKey }) into a buffer handed over (not
// copied) to the caller: the bytes a publish sends, with no JSON or copy left on the event loop.
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
    if (m.kind === 'sign') return parentPort.postMessage({ id: m.id, signed });
    // each envelope in a buffer of its own, handed over: a retained message keeps only its own bytes alive
    const envelopes = signed.map((s) => {
      const text = JSON.stringify({ payload: s.payload, signature: s.signature, signingKey: m.signingKey });
      const bytes = Buffer.allocUnsafeSlow(Buffer.byteLength(text));
      bytes.write(text);
      return bytes;
    });
    parentPort.postMessage({ id: m.id, envelopes }, envelopes.map((b) => b.buffer));
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
  private readonly pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
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
      else p.resolve(r);
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
    const replies = await this.split(values, key, (id, part) => ({ kind: 'sign', id, values: part }));
    return replies.flatMap((r) => ('signed' in r ? r.signed : []));
  }

  /**
   * Signs each value as `sign` does and answers each whole envelope's JSON bytes
   * (`{ payload, signature, signingKey }`), ready to publish: each in a buffer of its own, handed
   * over from the thread without a copy.
   */
  async envelopes(values: readonly unknown[], key: KeyObject, signingKey: unknown): Promise<Buffer[]> {
    const replies = await this.split(values, key, (id, part) => ({ kind: 'envelopes', id, values: part, signingKey }));
    return replies.flatMap((r) => ('envelopes' in r ? r.envelopes.map((u) => Buffer.from(u.buffer, u.byteOffset, u.byteLength)) : []));
  }

  private async split(values: readonly unknown[], key: KeyObject, request: (id: number, part: unknown[]) => Request): Promise<Reply[]> {
    if (this.closed) throw new Error('the signing pool is closed');
    if (values.length === 0) return [];
    const per = Math.ceil(values.length / this.threads.length);
    const parts: Promise<Reply>[] = [];
    const byLoad = [...this.threads].sort((x, y) => x.load - y.load);
    for (let i = 0, t = 0; i < values.length; i += per, t++) {
      const thread = byLoad[t % byLoad.length];
      if (!thread) break;
      parts.push(this.post(thread, values.slice(i, i + per), key, request));
    }
    return Promise.all(parts);
  }

  private post(thread: Thread, values: unknown[], key: KeyObject, request: (id: number, part: unknown[]) => Request): Promise<Reply> {
    if (thread.key !== key) {
      thread.worker.postMessage({ kind: 'key', key } satisfies Request);
      thread.key = key;
    }
    const id = this.nextId++;
    thread.load += values.length;
    return new Promise<Reply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      thread.worker.postMessage(request(id, values));
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
