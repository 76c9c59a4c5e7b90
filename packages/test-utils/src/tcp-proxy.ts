import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * How a cut looks from outside: the server is down (refused), the network swallows everything (black
 * hole: open connections severed, new ones never answered), or the path dies under open connections
 * (half-open: they stay open, and nothing more crosses either way, no FIN, no RST).
 */
export type CutMode = 'refuse' | 'blackhole' | 'half-open';

interface Connection {
  client: Socket;
  upstream: Socket;
  /** Bytes forwarded from the target to the client so far (what `cutAfter` counts). */
  down: number;
  /** When the last delayed chunk each way is due: later chunks never overtake it. */
  due: { up: number; down: number };
  /**
   * What each way still holds, in order, run by one timer per way: independent timers due in the
   * same millisecond may fire out of order (Node orders its timer lists by expiry, then by list),
   * which let an end overtake the last throttled slice and cut the download short.
   */
  held: { up: Held[]; down: Held[] };
}

interface Held {
  at: number;
  fn: () => void;
}

/**
 * A loopback TCP proxy for fault tests: everything connects to `port` and is piped to the target,
 * and the test breaks the path the ways a network breaks:
 * - `cut('refuse')` severs every open connection and stops listening, so new connections are refused
 *   (ECONNREFUSED, as when the server is down);
 * - `cut('blackhole')` severs every open connection and accepts new ones without ever answering
 *   (a network partition);
 * - `cut('half-open')` keeps open connections open but drops everything on them, both ways, and
 *   black-holes new ones (a NAT or a link that died: only a timeout of the peer's own notices);
 * - `setDelay(ms)` holds every chunk, both ways, `ms` before passing it on (a slow link);
 * - `throttle(bytesPerSecond)` passes each direction of each connection at that rate (a thin link);
 * - `cutAfter(bytes)` severs each connection once it has carried `bytes` from the target to the
 *   client (a download that dies mid-stream);
 * - `restore()` forwards normally again, on the same port.
 */
export class TcpProxy {
  readonly host = '127.0.0.1';
  private server: Server | null = null;
  private readonly connections = new Set<Connection>();
  /** Sockets accepted while black-holed: never forwarded, destroyed by `restore()` or `close()`. */
  private readonly held = new Set<Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private mode: 'open' | CutMode = 'open';
  private delayMs = 0;
  private bytesPerSecond: number | null = null;
  private cutAfterBytes: number | null = null;
  /** Connections forwarded, connections black-holed, sockets destroyed by a cut, connections cut mid-stream. */
  readonly stats = { forwarded: 0, blackholed: 0, destroyed: 0, cutMidStream: 0, droppedHalfOpen: 0 };

  private constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
    public port: number,
  ) {}

  /** Listens on `port` of 127.0.0.1 (0: any free port, read `port` afterwards) and forwards to the target. */
  static async start(targetHost: string, targetPort: number, port = 0): Promise<TcpProxy> {
    const p = new TcpProxy(targetHost, targetPort, port);
    await p.listen();
    return p;
  }

  get address(): { host: string; port: number } {
    return { host: this.host, port: this.port };
  }

  /** Severs every open connection (half-open: silences it); new ones are refused or black-holed until `restore()`. */
  async cut(how: CutMode = 'refuse'): Promise<void> {
    this.mode = how;
    const closing = how === 'refuse' ? this.stopListening() : Promise.resolve();
    if (how !== 'half-open') this.destroyAll();
    else this.dropInFlight(); // what a delay or a throttle still held was on the dead path too
    await closing;
  }

  /** Passes each direction of each connection at `bytesPerSecond` (null: unlimited); open connections included. */
  throttle(bytesPerSecond: number | null): void {
    if (bytesPerSecond !== null && !(bytesPerSecond > 0)) throw new Error(`throttle: ${bytesPerSecond} bytes/s is not a rate`);
    this.bytesPerSecond = bytesPerSecond;
  }

  /** Holds every chunk, in both directions, `ms` before forwarding it (0: no delay); open connections included. */
  setDelay(ms: number): void {
    this.delayMs = Math.max(0, ms);
  }

  /** Severs each connection, open or new, once it has carried `bytes` from the target (null: never). */
  cutAfter(bytes: number | null): void {
    this.cutAfterBytes = bytes;
  }

  /** Forwards again without faults (no delay, no mid-stream cut), listening on the same port. */
  async restore(): Promise<void> {
    const silenced = this.mode === 'blackhole' || this.mode === 'half-open';
    this.mode = 'open';
    this.delayMs = 0;
    this.bytesPerSecond = null;
    this.cutAfterBytes = null;
    // connections accepted while black-holed were never forwarded; half-open ones lost bytes: the peer
    // that comes back has no state for them, so they end (as its RST would end them)
    if (silenced) this.destroyAll();
    if (!this.server) await this.listen();
  }

  async close(): Promise<void> {
    this.mode = 'refuse';
    const closing = this.stopListening();
    this.destroyAll();
    await closing;
  }

  private listen(): Promise<void> {
    const server = createServer((client) => this.accept(client));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, this.host, () => {
        const addr = server.address();
        if (typeof addr === 'object' && addr) this.port = addr.port;
        server.off('error', reject);
        resolve();
      });
    });
  }

  private accept(client: Socket): void {
    client.on('error', () => undefined);
    if (this.mode === 'blackhole' || this.mode === 'half-open') {
      this.stats.blackholed++;
      this.held.add(client);
      client.on('close', () => this.held.delete(client));
      return; // never answered
    }
    this.stats.forwarded++;
    const upstream = connect(this.targetPort, this.targetHost);
    upstream.on('error', () => undefined);
    const conn: Connection = { client, upstream, down: 0, due: { up: 0, down: 0 }, held: { up: [], down: [] } };
    this.connections.add(conn);
    const sever = (): void => {
      this.connections.delete(conn);
      client.destroy();
      upstream.destroy();
    };
    // a close travels behind the bytes still held by a delay or a throttle, as a FIN would, and
    // waits for what was written to leave (destroying at once dropped a throttled download's tail
    // on a loaded machine); on a half-open path it does not travel at all (restore() ends it)
    const closeBehind = (): void => {
      this.connections.delete(conn);
      flushThenDestroy(client);
      flushThenDestroy(upstream);
    };
    client.on('close', () => this.mode === 'half-open' || this.later(conn, 'up', closeBehind));
    upstream.on('close', () => this.mode === 'half-open' || this.later(conn, 'down', closeBehind));
    this.forward(conn, 'up', sever);
    this.forward(conn, 'down', sever);
  }

  /** Copies one direction chunk by chunk, so a delay or a mid-stream cut can act on each chunk. */
  private forward(conn: Connection, dir: 'up' | 'down', sever: () => void): void {
    const [from, to] = dir === 'up' ? [conn.client, conn.upstream] : [conn.upstream, conn.client];
    from.on('data', (chunk: Buffer) => {
      if (this.mode === 'half-open') {
        this.stats.droppedHalfOpen += chunk.length;
        return;
      }
      let data = chunk;
      let last = false;
      if (dir === 'down' && this.cutAfterBytes !== null) {
        const left = Math.max(0, this.cutAfterBytes - conn.down);
        if (data.length >= left) {
          data = data.subarray(0, left);
          last = true;
          from.pause();
        }
        conn.down += data.length;
      }
      const send = (): void => {
        if (to.destroyed) return;
        if (last) {
          this.stats.cutMidStream++;
          to.write(data, sever); // what came before the cut arrives; nothing after it
        } else if (!to.write(data)) {
          from.pause();
          to.once('drain', () => from.resume());
        }
      };
      const rate = this.bytesPerSecond;
      if (rate === null || last) return this.later(conn, dir, send);
      // throttled: in slices of ~50 ms each, every slice due when the link would have carried it
      const slice = Math.max(1, Math.floor(rate / 20));
      for (let at = 0; at < data.length; at += slice) {
        const part = data.subarray(at, at + slice);
        this.later(conn, dir, () => to.destroyed || to.write(part), (part.length * 1000) / rate);
      }
    });
    from.on('end', () => {
      if (this.mode !== 'half-open') this.later(conn, dir, () => to.end());
    });
  }

  /** Runs `fn` after the delay, never before what was queued before it, and `transferMs` after that. */
  private later(conn: Connection, dir: 'up' | 'down', fn: () => void, transferMs = 0): void {
    const queue = conn.held[dir];
    if (this.delayMs === 0 && transferMs === 0 && conn.due[dir] <= Date.now() && queue.length === 0) return fn();
    const at = Math.max(Date.now() + this.delayMs, conn.due[dir]) + transferMs;
    conn.due[dir] = at;
    queue.push({ at, fn });
    if (queue.length === 1) this.runHeld(queue);
  }

  /** Runs what is due at the head of one way's queue, in order, then waits for the next. */
  private runHeld(queue: Held[]): void {
    const head = queue[0];
    if (head === undefined) return;
    const t = setTimeout(
      () => {
        this.timers.delete(t);
        for (let next = queue[0]; next !== undefined && next.at <= Date.now(); next = queue[0]) {
          queue.shift();
          next.fn();
        }
        this.runHeld(queue);
      },
      Math.max(0, head.at - Date.now()),
    );
    this.timers.add(t);
  }

  private dropInFlight(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const c of this.connections) {
      c.held.up.length = 0;
      c.held.down.length = 0;
    }
  }

  private destroyAll(): void {
    this.dropInFlight();
    for (const c of this.connections) {
      for (const s of [c.client, c.upstream]) {
        s.destroy();
        this.stats.destroyed++;
      }
    }
    this.connections.clear();
    for (const s of this.held) {
      s.destroy();
      this.stats.destroyed++;
    }
    this.held.clear();
  }

  private async stopListening(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** Ends a socket once what was written to it has left (at most 5 s: a peer that stops reading is cut). */
function flushThenDestroy(s: Socket): void {
  if (s.destroyed) return;
  if (s.writableLength === 0) {
    s.destroy();
    return;
  }
  const cut = setTimeout(() => s.destroy(), 5_000);
  s.once('finish', () => {
    clearTimeout(cut);
    s.destroy();
  });
  if (!s.writableEnded) s.end();
}
