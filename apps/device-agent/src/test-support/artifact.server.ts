import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export type FaultMode = 'ok' | 'mutate' | 'truncate' | 'append' | 'http500' | 'no-auth';

/** Loopback artifact server with fault modes; records the Authorization header it saw. */
export class ArtifactServer {
  private server: Server | null = null;
  private readonly files = new Map<string, Uint8Array>();
  mode: FaultMode = 'ok';
  /** Never send a Content-Length, so size checks cannot rely on the header. */
  chunked = false;
  lastAuthorization: string | undefined;
  requests = 0;

  add(path: string, bytes: Uint8Array): void {
    this.files.set(path, bytes);
  }

  url(path: string): string {
    const address = this.server?.address() as AddressInfo | null;
    if (address == null) throw new Error('server not started');
    return `http://127.0.0.1:${address.port}${path}`;
  }

  async start(): Promise<void> {
    const server = createServer((req, res) => {
      this.requests++;
      this.lastAuthorization = req.headers.authorization;
      const body = this.files.get(req.url ?? '');
      if (body === undefined || this.mode === 'http500') {
        res.writeHead(body === undefined ? 404 : 500).end();
        return;
      }
      const served = faulty(body, this.mode);
      res.writeHead(200, this.chunked ? {} : { 'content-length': String(served.length) });
      res.end(served);
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (server !== null) await new Promise<void>((resolve) => server.close(() => resolve()));
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
    case 'no-auth':
      return copy;
  }
}
