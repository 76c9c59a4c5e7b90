import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type FaultMode =
  | 'ok'
  | 'mutate'
  | 'truncate'
  | 'append'
  | 'http500'
  /** 403, as the control plane answers a device asking for an artifact none of its desired states named. */
  | 'forbidden'
  | 'no-auth'
  /** Serve up to the next offset in `dropAt` (absolute, in the artifact), then cut the connection. */
  | 'drop'
  /** Send `stallAfterBytes`, then nothing, keeping the connection open. */
  | 'stall'
  /** Send `trickleBytes` every `trickleMs`. */
  | 'trickle'
  /** 200 without a length: the artifact, then filler forever. */
  | 'endless'
  /** Answer ranged requests with the whole file (200). */
  | 'ignore-range'
  /** Answer ranged requests with 416. */
  | 'refuse-range'
  /** Answer ranged requests with 206 but a Content-Range that starts elsewhere. */
  | 'bad-content-range';

/** Loopback artifact server with fault modes and Range support; records what it was asked and sent. */
export class ArtifactServer {
  private server: Server | null = null;
  private readonly files = new Map<string, Uint8Array>();
  mode: FaultMode = 'ok';
  /** Never send a Content-Length, so size checks cannot rely on the header. */
  chunked = false;
  lastAuthorization: string | undefined;
  requests = 0;
  /** The Range header of every request (null when absent), in order. */
  readonly ranges: Array<string | null> = [];
  /** The Authorization header of every request (null when absent), in order. */
  readonly authorizations: Array<string | null> = [];
  /** Body bytes written to sockets, over all requests. */
  bytesServed = 0;
  /** 'drop': one offset consumed per request; once empty, requests are served whole. */
  dropAt: number[] = [];
  stallAfterBytes = 0;
  trickleBytes = 64;
  trickleMs = 20;

  add(path: string, bytes: Uint8Array): void {
    this.files.set(path, bytes);
  }

  url(path: string): string {
    const address = this.server?.address() as AddressInfo | null;
    if (address == null) throw new Error('server not started');
    return `http://127.0.0.1:${address.port}${path}`;
  }

  /** Back to a well-behaved server (between tests). */
  reset(): void {
    this.mode = 'ok';
    this.chunked = false;
    this.ranges.length = 0;
    this.authorizations.length = 0;
    this.bytesServed = 0;
    this.dropAt = [];
    this.stallAfterBytes = 0;
  }

  async start(): Promise<void> {
    const server = createServer((req, res) => this.handle(req, res));
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (server === null) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    this.requests++;
    this.lastAuthorization = req.headers.authorization;
    this.ranges.push(req.headers.range ?? null);
    this.authorizations.push(req.headers.authorization ?? null);
    const body = this.files.get(req.url ?? '');
    if (body === undefined || this.mode === 'http500' || this.mode === 'forbidden') {
      res.writeHead(body === undefined ? 404 : this.mode === 'forbidden' ? 403 : 500).end();
      return;
    }
    const served = faulty(body, this.mode);
    if (this.mode === 'endless') {
      res.writeHead(200);
      this.send(res, served);
      this.pumpForever(res);
      return;
    }
    const start = Number(/^bytes=(\d+)-$/.exec(req.headers.range ?? '')?.[1] ?? 0);
    let status = 200;
    const headers: Record<string, string> = {};
    if (start > 0 && this.mode !== 'ignore-range') {
      if (this.mode === 'refuse-range' || start >= served.length) {
        res.writeHead(416, { 'content-range': `bytes */${served.length}` }).end();
        return;
      }
      status = 206;
      const claimed = this.mode === 'bad-content-range' ? 0 : start;
      headers['content-range'] = `bytes ${claimed}-${served.length - 1}/${served.length}`;
    }
    const from = status === 206 ? start : 0;
    const slice = served.subarray(from);
    if (!this.chunked) headers['content-length'] = String(slice.length);
    res.writeHead(status, headers);
    switch (this.mode) {
      case 'drop': {
        const at = this.dropAt.shift();
        if (at === undefined || at <= from) break;
        this.send(res, slice.subarray(0, at - from), () => res.destroy());
        return;
      }
      case 'stall':
        this.send(res, slice.subarray(0, this.stallAfterBytes));
        return; // never ends; stop() closes it
      case 'trickle':
        this.trickle(res, slice);
        return;
      case 'ok':
      case 'mutate':
      case 'truncate':
      case 'append':
      case 'no-auth':
      case 'ignore-range':
      case 'refuse-range':
      case 'bad-content-range':
        break;
    }
    this.send(res, slice, () => res.end());
  }

  private send(res: ServerResponse, bytes: Uint8Array, done?: () => void): void {
    this.bytesServed += bytes.length;
    res.write(bytes, () => done?.());
  }

  private trickle(res: ServerResponse, rest: Uint8Array): void {
    if (res.destroyed) return;
    if (rest.length === 0) {
      res.end();
      return;
    }
    this.send(res, rest.subarray(0, this.trickleBytes));
    setTimeout(() => this.trickle(res, rest.subarray(this.trickleBytes)), this.trickleMs);
  }

  private pumpForever(res: ServerResponse): void {
    const filler = Buffer.alloc(64 * 1024, 0x5a);
    const pump = (): void => {
      while (!res.destroyed) {
        this.bytesServed += filler.length;
        if (!res.write(filler)) {
          res.once('drain', pump);
          return;
        }
      }
    };
    pump();
  }
}

function faulty(body: Uint8Array, mode: FaultMode): Buffer {
  const copy = Buffer.from(body);
  switch (mode) {
    case 'mutate':
      copy[copy.length >> 1] = (copy[copy.length >> 1] ?? 0) ^ 0xff;
      return copy;
    case 'truncate':
      return copy.subarray(0, copy.length - 7);
    case 'append':
      return Buffer.concat([copy, Buffer.alloc(4096, 1)]);
    case 'ok':
    case 'http500':
    case 'forbidden':
    case 'no-auth':
    case 'drop':
    case 'stall':
    case 'trickle':
    case 'endless':
    case 'ignore-range':
    case 'refuse-range':
    case 'bad-content-range':
      return copy;
  }
}
