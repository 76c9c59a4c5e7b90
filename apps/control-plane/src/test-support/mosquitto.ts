import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { chown, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { freePort } from '@edge-fleet/test-utils';
import { ChildServer } from './child-process.js';

/**
 * A private Mosquitto on a free loopback port, configured as README ("Running with Mosquitto")
 * recommends: the machine's Mosquitto on 1883 is shared and must not be killed or reconfigured.
 */
const MOSQUITTO_BIN = '/usr/sbin/mosquitto';
const MOSQUITTO_CTRL = '/usr/bin/mosquitto_ctrl';
const DYNSEC_PLUGIN = '/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so';

/** The dynamic-security admin that `mosquitto_ctrl dynsec init` creates; the control plane connects as it. */
export interface BrokerAdmin {
  username: string;
  password: string;
}

/**
 * Mosquitto started as root drops to the `mosquitto` user, which must read and rewrite the
 * dynamic-security file (it saves it after every change, through a new file in the same directory).
 */
async function handToBrokerUser(...paths: string[]): Promise<void> {
  if (process.getuid?.() !== 0) return;
  const entry = (await readFile('/etc/passwd', 'utf8')).split('\n').find((l) => l.startsWith('mosquitto:'));
  const [, , uid, gid] = entry?.split(':') ?? [];
  if (uid === undefined || gid === undefined) return;
  for (const p of paths) await chown(p, Number(uid), Number(gid));
}

/** A Mosquitto process that can be killed and started again on the same port. */
export class Mosquitto extends ChildServer {
  private constructor(
    dir: string,
    port: number,
    /** Null on an anonymous broker. */
    readonly admin: BrokerAdmin | null,
  ) {
    super(dir, port);
  }

  /** What the control plane needs to use this broker: its URL and, with dynamic security, the admin's credentials. */
  get controlPlaneEnv(): Record<string, string> {
    return { MQTT_URL: this.url, ...(this.admin ? { MQTT_USERNAME: this.admin.username, MQTT_PASSWORD: this.admin.password } : {}) };
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

  /**
   * `dynsec` (the default): the dynamic-security plugin with an admin made by `mosquitto_ctrl dynsec
   * init` and no anonymous access, as deploy/mosquitto/mosquitto.conf; `anonymous`: anyone connects
   * and publishes anywhere (only for tests of what a broker does with packets before any identity).
   */
  static async create(mode: 'dynsec' | 'anonymous' = 'dynsec'): Promise<Mosquitto> {
    const dir = await mkdtemp(path.join(tmpdir(), 'ef-mosquitto-'));
    const admin = mode === 'dynsec' ? { username: 'edge-fleet-admin', password: randomBytes(18).toString('base64url') } : null;
    const m = new Mosquitto(dir, await freePort(), admin);
    const dynsecFile = path.join(dir, 'dynamic-security.json');
    if (admin) {
      await promisify(execFile)(MOSQUITTO_CTRL, ['dynsec', 'init', dynsecFile, admin.username, admin.password]);
      await handToBrokerUser(dir, dynsecFile);
    }
    // max_packet_size: the bound README recommends (issue 10 item 3), so no packet is buffered past it;
    // no persistence: a restart loses sessions and retained messages (the dynamic-security file stays);
    // set_tcp_nodelay: without it each answer of the plugin waits ~40 ms behind its PUBACK (Nagle + delayed ACK)
    const security = admin
      ? ['allow_anonymous false', `plugin ${DYNSEC_PLUGIN}`, `plugin_opt_config_file ${dynsecFile}`]
      : ['allow_anonymous true'];
    await writeFile(
      m.conf,
      [
        'per_listener_settings false',
        `listener ${m.port} 127.0.0.1`,
        ...security,
        'persistence false',
        'max_packet_size 262144',
        // the control plane acknowledges a window only once committed: room for a flush's worth in
        // flight, and for what arrives while a replica restarts (README, "Running with Mosquitto")
        'max_inflight_messages 1000',
        'max_queued_messages 100000',
        'set_tcp_nodelay true',
        '',
      ].join('\n'),
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
