import type { AddressInfo, Server } from 'node:net';

/** Servers a test listens with on 127.0.0.1 (a free port each), closed together at its end. */
export class LoopbackServers {
  private readonly servers: Server[] = [];

  /** Listens on a free loopback port; returns it. */
  async listen(server: Server): Promise<number> {
    this.servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return (server.address() as AddressInfo).port;
  }

  close(): void {
    for (const s of this.servers) s.close();
  }
}
