import { spawn } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ChildServer, freePort, waitFor } from '@edge-fleet/test-utils';
import { redisAnswers } from '../infra/services.js';

/**
 * A private `redis-server` on a free loopback port, with its own data directory, configured as
 * RELIABILITY's harness says (`--appendonly yes --maxmemory-policy noeviction` unless told
 * otherwise): a test may kill it and start it again on the same port with the same data. The
 * machine's Redis on 6379 is shared and must never be killed.
 */
export class RedisServer extends ChildServer {
  private constructor(
    dir: string,
    port: number,
    private readonly args: readonly string[],
  ) {
    super(dir, port);
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** `policy`: the maxmemory-policy (an evicting one to test its refusal). */
  static async create(o: { policy?: string } = {}): Promise<RedisServer> {
    const dir = await mkdtemp(path.join(tmpdir(), 'ef-redis-'));
    const port = await freePort();
    const args = ['--bind', '127.0.0.1', '--port', String(port), '--dir', dir, '--save', '', '--appendonly', 'yes'];
    return new RedisServer(dir, port, [...args, '--maxmemory-policy', o.policy ?? 'noeviction']);
  }

  /** Starts the server and resolves once it answers PING. */
  async start(): Promise<void> {
    if (this.proc) throw new Error('redis-server is already running');
    const proc = spawn('redis-server', [...this.args], { stdio: 'ignore' });
    this.proc = proc;
    let exited = '';
    proc.once('exit', (code, signal) => {
      exited = `redis-server exited with ${signal ?? `code ${String(code)}`}`;
      if (this.proc === proc) this.proc = null;
    });
    proc.once('error', (e) => (exited = `redis-server failed to start: ${e.message}`));
    await waitFor(
      async () => {
        if (exited) throw new Error(exited);
        return redisAnswers(this.url);
      },
      10_000,
      `redis-server on ${this.port} answering`,
    );
  }
}
