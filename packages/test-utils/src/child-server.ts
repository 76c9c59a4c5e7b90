import type { ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';

/**
 * A server a test runs as a child process (Mosquitto, redis-server) on a port and in a temporary
 * directory of its own, and may kill and start again there. It is SIGKILLed should the test
 * runner exit before closing it.
 */
export abstract class ChildServer {
  protected proc: ChildProcess | null = null;
  private readonly killOnExit = () => this.proc?.kill('SIGKILL');

  protected constructor(
    readonly dir: string,
    private listenPort: number,
  ) {
    process.once('exit', this.killOnExit);
  }

  /** The port it listens on; it stays the same across restarts (clients come back to it). */
  get port(): number {
    return this.listenPort;
  }

  /** Another port, before the first start only: one found free was taken before the server could bind it. */
  protected moveTo(port: number): void {
    this.listenPort = port;
  }

  /** The running server's process id (null when it is not running), e.g. to read its CPU from /proc. */
  get pid(): number | null {
    return this.proc?.pid ?? null;
  }

  /** SIGKILL: no clean shutdown, nothing saved that the server had not written already; resolves once it has exited. */
  async kill(): Promise<void> {
    const proc = this.proc;
    this.proc = null;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill('SIGKILL');
    await gone;
  }

  /** Kills the server and removes its directory. */
  async close(): Promise<void> {
    await this.kill();
    process.removeListener('exit', this.killOnExit);
    await rm(this.dir, { recursive: true, force: true });
  }
}
