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
    const args = ['--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes'];
    return new RedisServer(dir, await freePort(), [...args, '--maxmemory-policy', o.policy ?? 'noeviction']);
  }

  /**
   * Starts the server and resolves once it answers PING. A port that freePort() found free can be
   * taken before the server binds it: a first start then moves to another port (a restart keeps
   * its own, for its clients to come back to).
   */
  async start(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const output = await this.startOnce();
      if (output === null) {
        this.started = true;
        return;
      }
      if (this.started || attempt >= 3 || !/Address already in use/.test(output)) throw new Error(output);
      this.moveTo(await freePort());
    }
  }

  private started = false;

  /** null once it answers PING; else why it exited, with its last output. */
  private async startOnce(): Promise<string | null> {
    if (this.proc) throw new Error('redis-server is already running');
    const proc = spawn('redis-server', [...this.args, '--port', String(this.port)], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    let output = '';
    const keep = (b: Buffer) => (output = (output + b.toString('utf8')).slice(-4_000));
    proc.stdout.on('data', keep);
    proc.stderr.on('data', keep);
    let exited = '';
    proc.once('exit', (code, signal) => {
      exited = `redis-server on ${this.port} exited with ${signal ?? `code ${String(code)}`}`;
      if (this.proc === proc) this.proc = null;
    });
    proc.once('error', (e) => (exited = `redis-server failed to start: ${e.message}`));
    // "Ready to accept connections": this server bound its port (whatever answers there may be another's)
    const ready = () => /Ready to accept connections/.test(output);
    try {
      await waitFor(async () => !!exited || (ready() && (await redisAnswers(this.url))), 10_000, `redis-server on ${this.port} answering`);
    } finally {
      // its log is not needed once it runs
      if (!exited) {
        proc.stdout.removeListener('data', keep).resume();
        proc.stderr.removeListener('data', keep).resume();
      }
    }
    return exited ? `${exited}:\n${output}` : null;
  }
}
