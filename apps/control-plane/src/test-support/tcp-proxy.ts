import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A loopback TCP proxy for outage tests: everything connects to `port` and is piped to the target.
 * `cut('refuse')` destroys every open connection and stops listening, so new connections are refused
 * (ECONNREFUSED, as when the server is down); `cut('blackhole')` destroys every open connection and
 * accepts new ones without ever answering (a network partition). `restore()` forwards again, on the
 * same port.
 */
export class TcpProxy {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  private mode: 'open' | 'refuse' | 'blackhole' = 'open';
  /** Connections accepted while forwarding, and connection attempts made while cut (black-holed ones only). */
  readonly stats = { forwarded: 0, blackholed: 0, destroyed: 0 };

  private constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
    public port: number,
  ) {}

  static async start(targetHost: string, targetPort: number, port = 0): Promise<TcpProxy> {
    const p = new TcpProxy(targetHost, targetPort, port);
    await p.listen();
    return p;
  }

  private listen(): Promise<void> {
    const server = createServer((client) => this.accept(client));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => {
        const addr = server.address();
        if (typeof addr === 'object' && addr) this.port = addr.port;
        server.off('error', reject);
        resolve();
      });
    });
  }

  private accept(client: Socket): void {
    this.sockets.add(client);
    client.on('close', () => this.sockets.delete(client));
    client.on('error', () => undefined);
    if (this.mode === 'blackhole') {
      this.stats.blackholed++;
      return; // never answered; destroyed by restore() or close()
    }
    this.stats.forwarded++;
    const upstream = connect(this.targetPort, this.targetHost);
    this.sockets.add(upstream);
    upstream.on('close', () => {
      this.sockets.delete(upstream);
      client.destroy();
    });
    upstream.on('error', () => undefined);
    client.on('close', () => upstream.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  }

  private destroyAll(): void {
    for (const s of this.sockets) {
      s.destroy();
      this.stats.destroyed++;
    }
    this.sockets.clear();
  }

  private async stopListening(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Severs every open connection; new ones are refused or black-holed until `restore()`. */
  async cut(how: 'refuse' | 'blackhole' = 'refuse'): Promise<void> {
    this.mode = how;
    const closing = how === 'refuse' ? this.stopListening() : Promise.resolve();
    this.destroyAll();
    await closing;
  }

  async restore(): Promise<void> {
    const wasBlackhole = this.mode === 'blackhole';
    this.mode = 'open';
    if (wasBlackhole) this.destroyAll(); // connections accepted while black-holed were never forwarded
    if (!this.server) await this.listen();
  }

  async close(): Promise<void> {
    this.mode = 'refuse';
    const closing = this.stopListening();
    this.destroyAll();
    await closing;
  }
}
