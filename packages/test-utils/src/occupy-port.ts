import { createServer, type Socket } from 'node:net';

/**
 * Takes `port` on 127.0.0.1 with a listener that accepts connections and never answers (as another
 * process that took the port might); `close` ends its connections too.
 */
export async function occupyPort(port: number): Promise<{ close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => void sockets.add(socket));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  return {
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
