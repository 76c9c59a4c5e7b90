import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '@edge-fleet/test-utils';
import { ChildServer } from './child-process.js';

/**
 * A private Mosquitto on a free loopback port, anonymous, configured as README recommends: the
 * machine's Mosquitto on 1883 is shared and must not be killed or reconfigured.
 */
const MOSQUITTO_BIN = '/usr/sbin/mosquitto';

/** A Mosquitto process that can be killed and started again on the same port. */
export class Mosquitto extends ChildServer {
  private constructor(dir: string, port: number) {
    super(dir, port);
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  private get conf(): string {
    return path.join(this.dir, 'mosquitto.conf');
  }

  private get logFile(): string {
    return path.join(this.dir, 'mosquitto.log');
  }

  static async create(): Promise<Mosquitto> {
    const m = new Mosquitto(await mkdtemp(path.join(tmpdir(), 'ef-mosquitto-')), await freePort());
    // max_packet_size: the bound README recommends (issue 10 item 3), so no packet is buffered past it
    await writeFile(
      m.conf,
      [`listener ${m.port} 127.0.0.1`, 'allow_anonymous true', 'persistence false', 'max_packet_size 262144', ''].join('\n'),
    );
    return m;
  }

  /** Starts the broker and resolves once it accepts TCP connections. */
  async start(): Promise<void> {
    if (this.proc) throw new Error('mosquitto is already running');
    const log = openSync(this.logFile, 'a');
    const status: { exited: string | null } = { exited: null };
    try {
      const proc = spawn(MOSQUITTO_BIN, ['-c', this.conf], { stdio: ['ignore', log, log] });
      this.proc = proc;
      proc.once('exit', (code, signal) => {
        status.exited = `exited with ${signal ?? `code ${String(code)}`}`;
        if (this.proc === proc) this.proc = null;
      });
      proc.once('error', (e) => {
        status.exited = `failed to start: ${e.message}`;
      });
    } finally {
      closeSync(log);
    }
    const until = Date.now() + 5_000;
    for (;;) {
      if (status.exited) throw new Error(`mosquitto ${status.exited}:\n${this.log()}`);
      if (await this.accepts()) return;
      if (Date.now() > until) throw new Error(`mosquitto did not accept connections on ${this.port} within 5 s:\n${this.log()}`);
      await sleep(25);
    }
  }

  log(): string {
    try {
      return readFileSync(this.logFile, 'utf8').split('\n').slice(-20).join('\n');
    } catch {
      return '(no log)';
    }
  }

  private accepts(): Promise<boolean> {
    return new Promise((resolve) => {
      const s = connect({ host: '127.0.0.1', port: this.port });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => {
        s.destroy();
        resolve(false);
      });
    });
  }
}
