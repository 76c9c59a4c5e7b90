import { timingSafeEqual } from 'node:crypto';
import { chmod, lstat, unlink } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { errorMessage, type Logger } from '../core/logger.js';
import { errorReply, type OipHandler, type OipReply } from './oip.handler.js';
import type { ForwardingGrantVerifier } from '../hybrid/forwarding-grant.verifier.js';
import type { ServeConfig } from './serve.settings.js';
import { ServeError } from './serve.errors.js';

/**
 * The local inference API's listeners: a Unix socket (mode 0660: the device's own applications, by
 * group) and TCP on 127.0.0.1; TCP on any other address only with a bearer token (the static
 * token, or on a cloud node a forwarding grant signed by the control plane). Bodies are
 * limited while they stream, so an oversized or endless upload never sits in memory.
 */
export class OipHttpServer {
  private readonly servers: Server[] = [];
  private tcp: AddressInfo | null = null;

  constructor(
    private readonly config: ServeConfig,
    private readonly handler: OipHandler,
    private readonly logger: Logger,
    /** A cloud node's check of hybrid devices' forwarding grants; null elsewhere. */
    private readonly grants: ForwardingGrantVerifier | null = null,
  ) {}

  async start(): Promise<void> {
    const { socketPath, port, host, token } = this.config;
    if (socketPath !== null) {
      await removeStaleSocket(socketPath);
      const server = this.create(false);
      await listen(server, (done) => server.listen(socketPath, done));
      await chmod(socketPath, 0o660);
      this.logger.info('inference API listening', { socket: socketPath });
    }
    if (port !== null) {
      if (!isLoopback(host) && token === null && this.grants === null)
        throw new Error(`serving inference on ${host} needs a bearer token (--serve-token)`);
      const server = this.create(token !== null || this.grants !== null);
      try {
        await listen(server, (done) => server.listen(port, host, done));
      } catch (err) {
        if (!isAddressInUse(err)) throw err;
        // two agents on one host both default to 8701: the second still serves its socket, and says how to fix it
        this.servers.splice(this.servers.indexOf(server), 1);
        this.logger.warn('inference API TCP port in use; serving on the Unix socket only', {
          host,
          port,
          socket: socketPath,
          fix: 'another agent or program holds this port: give this agent its own --serve-port <n>, or --serve-port 0 to pick a free one (logged here)',
        });
        return;
      }
      this.tcp = server.address() as AddressInfo;
      this.logger.info('inference API listening', {
        host,
        port: this.tcp.port,
        bearerToken: token !== null,
        forwardingGrants: this.grants !== null,
      });
    }
  }

  /** The bound TCP port (0 in the config picks a free one). */
  get port(): number | null {
    return this.tcp?.port ?? null;
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.servers.splice(0).map(
        (s) =>
          new Promise<void>((resolve) => {
            s.close(() => resolve());
            s.closeAllConnections();
          }),
      ),
    );
    if (this.config.socketPath !== null) await unlink(this.config.socketPath).catch(() => undefined);
  }

  private create(guarded: boolean): Server {
    const server = createServer((req, res) => this.onRequest(req, res, guarded));
    this.servers.push(server);
    return server;
  }

  private onRequest(req: IncomingMessage, res: ServerResponse, guarded: boolean): void {
    const refusal = guarded ? this.refusal(req) : null;
    if (refusal !== null) {
      send(res, errorReply(refusal));
      req.resume();
      return;
    }
    const max = this.config.maxBodyBytes;
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > max) return tooLarge(req, res, max, `${declared} bytes declared`);
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    req.on('data', (chunk: Buffer) => {
      if (refused) return;
      size += chunk.length;
      if (size > max) {
        refused = true;
        chunks.length = 0;
        tooLarge(req, res, max, `more than ${max} bytes sent`);
        return;
      }
      chunks.push(chunk);
    });
    req.on('error', () => undefined);
    req.on('end', () => {
      if (refused) return;
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      this.handler
        .handle(req.method ?? 'GET', path, req.headers, Buffer.concat(chunks, size))
        .then((reply) => send(res, reply))
        .catch((err: unknown) => {
          this.logger.warn('inference request failed', { error: errorMessage(err) });
          send(res, errorReply(new ServeError(500, 'internal error')));
        });
    });
  }

  /** Null: the static token or (on a cloud node) a valid forwarding grant; else why not. */
  private refusal(req: IncomingMessage): ServeError | null {
    const token = this.config.token;
    if (token !== null) {
      const given = Buffer.from(req.headers.authorization ?? '', 'utf8');
      const wanted = Buffer.from(`Bearer ${token}`, 'utf8');
      if (given.length === wanted.length && timingSafeEqual(given, wanted)) return null;
    }
    if (this.grants !== null) return this.grants.check(req.headers.authorization);
    return new ServeError(401, 'a bearer token is required (Authorization: Bearer <token>)', { 'www-authenticate': 'Bearer' });
  }
}

function send(res: ServerResponse, reply: OipReply): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(reply.status, { ...reply.headers, 'content-length': String(reply.body.length) });
  res.end(reply.body);
}

/** 413 at once; then the connection is closed so the rest of the upload is never read. */
function tooLarge(req: IncomingMessage, res: ServerResponse, max: number, what: string): void {
  const reply = errorReply(new ServeError(413, `request body too large: ${what}, the limit is ${max} bytes`, { connection: 'close' }));
  res.on('finish', () => req.socket.destroy());
  send(res, reply);
}

function isAddressInUse(err: unknown): boolean {
  return err instanceof Error && 'code' in err && err.code === 'EADDRINUSE';
}

function listen(server: Server, start: (done: () => void) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    start(() => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** A socket file left by a crashed agent would make listen fail with EADDRINUSE; anything that is not a socket is left alone. */
async function removeStaleSocket(path: string): Promise<void> {
  const stat = await lstat(path).catch(() => null);
  if (stat === null) return;
  if (!stat.isSocket()) throw new Error(`${path} exists and is not a socket; choose another --serve-socket`);
  await unlink(path);
}

export function isLoopback(host: string): boolean {
  return host === '127.0.0.1' || host === '::1' || host === 'localhost' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
