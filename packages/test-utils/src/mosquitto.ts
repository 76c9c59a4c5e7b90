import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, statSync } from 'node:fs';
import { chown, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import {
  DYNSEC_RESPONSE_TOPIC,
  DYNSEC_TOPIC,
  DynsecResponsesSchema,
  deviceBrokerAcls,
  mqttContract,
  TOPIC_KINDS,
  topicOf,
  TOPIC_ROOT,
} from '@edge-fleet/shared';
import mqtt from 'mqtt';
import { freePort } from './free-port.js';
import { ChildServer } from './child-server.js';

/**
 * A private Mosquitto on a free loopback port, configured as README ("Running with Mosquitto")
 * recommends: the machine's Mosquitto on 1883 is shared and must not be killed or reconfigured.
 */
const MOSQUITTO_BIN = '/usr/sbin/mosquitto';
const MOSQUITTO_CTRL = '/usr/bin/mosquitto_ctrl';
const MOSQUITTO_PASSWD = '/usr/bin/mosquitto_passwd';
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
    /** The mqtts listener's port, when created with `tls`. */
    private mqttsPort: number | null = null,
  ) {
    super(dir, port);
  }

  /** The mqtts listener's port, when created with `tls`. */
  get tlsPort(): number | null {
    return this.mqttsPort;
  }

  /** What writeConf wrote, to write it again on other ports (see start). */
  private confInput: { security: string[]; tlsFiles: string[] } = { security: [], tlsFiles: [] };
  private started = false;

  /** The mqtts listener (created with `tls`): mqtts://127.0.0.1:<tlsPort>. */
  get tlsUrl(): string {
    if (this.tlsPort === null) throw new Error('this broker has no TLS listener');
    return `mqtts://127.0.0.1:${this.tlsPort}`;
  }

  private observerCreds: BrokerAdmin | null = null;

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
  static async create(mode: 'dynsec' | 'anonymous' = 'dynsec', tls?: { cert: string; key: string; ca: string }): Promise<Mosquitto> {
    const dir = await mkdtemp(path.join(tmpdir(), 'ef-mosquitto-'));
    const admin = mode === 'dynsec' ? { username: 'edge-fleet-admin', password: randomBytes(18).toString('base64url') } : null;
    const m = new Mosquitto(dir, await freePort(), admin, tls ? await freePort() : null);
    // `tls`: a second listener, mqtts, as deploy/mosquitto/tls.conf (the plain one stays for the test's own clients)
    const tlsListener: string[] = [];
    if (tls && m.tlsPort !== null) {
      const files = {
        certfile: path.join(dir, 'tls-cert.pem'),
        keyfile: path.join(dir, 'tls-key.pem'),
        cafile: path.join(dir, 'tls-ca.pem'),
      };
      await writeFile(files.certfile, tls.cert);
      await writeFile(files.keyfile, tls.key, { mode: 0o600 });
      await writeFile(files.cafile, tls.ca);
      await handToBrokerUser(files.certfile, files.keyfile, files.cafile);
      tlsListener.push(...Object.entries(files).map(([k, v]) => `${k} ${v}`), 'tls_version tlsv1.2');
    }
    const dynsecFile = path.join(dir, 'dynamic-security.json');
    if (admin) {
      await promisify(execFile)(MOSQUITTO_CTRL, ['dynsec', 'init', dynsecFile, admin.username, admin.password]);
      await handToBrokerUser(dir, dynsecFile);
    }
    const security = admin
      ? ['allow_anonymous false', `plugin ${DYNSEC_PLUGIN}`, `plugin_opt_config_file ${dynsecFile}`]
      : ['allow_anonymous true'];
    await m.writeConf(security, tlsListener);
    return m;
  }

  /**
   * A broker for a fleet too large to provision one by one through dynamic security (its file is
   * rewritten after every command): a password file holding `devices` (username = device id,
   * hashed by `mosquitto_passwd`) and an ACL file whose patterns give each username exactly the
   * device topics the shared contract gives it (`%u` in place of the device id). No anonymous access.
   * `observer`, if given, may publish and read every device topic (what a test uses to watch).
   */
  static async withPasswordFile(devices: readonly BrokerAdmin[], observer?: BrokerAdmin): Promise<Mosquitto> {
    const dir = await mkdtemp(path.join(tmpdir(), 'ef-mosquitto-'));
    const m = new Mosquitto(dir, await freePort(), null);
    await m.setPasswordFile(devices, observer);
    await m.writeConf(['allow_anonymous false', `password_file ${m.passwordFile}`, `acl_file ${m.aclFile}`]);
    return m;
  }

  private get passwordFile(): string {
    return path.join(this.dir, 'passwords');
  }

  private get aclFile(): string {
    return path.join(this.dir, 'acl');
  }

  /**
   * Writes the password and ACL files of a broker made by {@link withPasswordFile} (`devices`
   * replace those before); a running broker reloads them (SIGHUP) before this resolves.
   */
  async setPasswordFile(devices: readonly BrokerAdmin[], observer?: BrokerAdmin): Promise<void> {
    const users = observer ? [...devices, observer] : devices;
    await writeFile(this.passwordFile, users.map((d) => `${d.username}:${d.password}\n`).join(''), { mode: 0o600 });
    await promisify(execFile)(MOSQUITTO_PASSWD, ['-U', this.passwordFile]);
    const watch = observer ? [`user ${observer.username}`, `topic readwrite ${TOPIC_ROOT}/#`] : [];
    // patterns first: a `user` line scopes the `topic` lines after it
    await writeFile(this.aclFile, [...deviceAclPatterns(), ...watch, ''].join('\n'));
    await handToBrokerUser(this.dir, this.passwordFile, this.aclFile);
    if (this.proc) {
      const reloads = (): number => {
        try {
          return readFileSync(this.logFile, 'utf8').split('Reloading config').length;
        } catch {
          return 0;
        }
      };
      const before = reloads();
      this.proc.kill('SIGHUP');
      // Mosquitto logs the reload once it has read the files again
      const until = Date.now() + 5_000;
      while (reloads() === before) {
        if (Date.now() > until) throw new Error(`mosquitto did not reload its password file within 5 s:\n${this.log()}`);
        await sleep(25);
      }
    }
  }

  /** `tlsFiles`: the mqtts listener's settings (`create` with `tls`), written after its `listener` line. */
  private async writeConf(security: string[], tlsFiles: string[] = []): Promise<void> {
    this.confInput = { security, tlsFiles };
    const extraListeners = this.mqttsPort === null ? [] : [`listener ${this.mqttsPort} 127.0.0.1`, ...tlsFiles];
    // max_packet_size: the bound README recommends (issue 10 item 3), so no packet is buffered past it;
    // no persistence: a restart loses sessions and retained messages (the dynamic-security file stays);
    // set_tcp_nodelay: without it each answer of the plugin waits ~40 ms behind its PUBACK (Nagle + delayed ACK)
    await writeFile(
      this.conf,
      [
        'per_listener_settings false',
        `listener ${this.port} 127.0.0.1`,
        ...extraListeners,
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
  }

  /** See `provisionBrokerDevice`. */
  provisionDevice(deviceId: string, password: string): Promise<void> {
    return provisionBrokerDevice(this.url, this.requireAdmin(), deviceId, password);
  }

  /**
   * `provisionBrokerDevice` for many devices sharing one password, 50 per admin message (200 passed max_packet_size)
   * (one connection per device took seconds for a benchmark's fleet).
   */
  async provisionDevices(deviceIds: readonly string[], password: string): Promise<void> {
    const admin = this.requireAdmin();
    for (let i = 0; i < deviceIds.length; i += 50)
      await dynsecCommands(
        this.url,
        admin,
        deviceIds.slice(i, i + 50).flatMap((id) => deviceCommands(id, password)),
        'already exists',
      );
  }

  /**
   * A client that may publish and subscribe to every device topic: what a test uses in place of the
   * control plane to send desired states and watch what devices send. Created once per broker.
   */
  async observer(): Promise<BrokerAdmin> {
    if (this.observerCreds) return this.observerCreds;
    const creds = { username: 'test-observer', password: randomBytes(18).toString('base64url') };
    const all = `${TOPIC_ROOT}/#`;
    await dynsecCommands(this.url, this.requireAdmin(), [
      {
        command: 'createRole',
        rolename: 'test-observer',
        acls: [
          { acltype: 'publishClientSend', topic: all, allow: true },
          { acltype: 'publishClientReceive', topic: all, allow: true },
          { acltype: 'subscribePattern', topic: all, allow: true },
        ],
      },
      { command: 'createClient', username: creds.username, password: creds.password, roles: [{ rolename: 'test-observer' }] },
    ]);
    this.observerCreds = creds;
    return creds;
  }

  private requireAdmin(): BrokerAdmin {
    if (!this.admin) throw new Error('an anonymous broker has no dynamic security');
    return this.admin;
  }

  /**
   * Starts the broker and resolves once it accepts TCP connections. A port that freePort() found
   * free can be taken by another process before the broker binds it: on a first start the broker
   * then moves to other ports (a restart keeps its own, for its clients to come back to).
   */
  async start(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.startOnce();
        this.started = true;
        return;
      } catch (e) {
        if (this.started || attempt >= 3 || !(e instanceof PortTaken)) throw e;
        this.moveTo(await freePort());
        if (this.mqttsPort !== null) this.mqttsPort = await freePort();
        await this.writeConf(this.confInput.security, this.confInput.tlsFiles);
      }
    }
  }

  private async startOnce(): Promise<void> {
    if (this.proc) throw new Error('mosquitto is already running');
    // this start's own lines: the log file is kept across restarts
    const logFrom = existsSync(this.logFile) ? statSync(this.logFile).size : 0;
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
    const since = () => {
      try {
        return readFileSync(this.logFile).subarray(logFrom).toString('utf8');
      } catch {
        return '';
      }
    };
    for (;;) {
      if (status.exited) {
        if (/Address already in use/.test(since())) throw new PortTaken(`mosquitto could not bind its port ${this.port}:\n${this.log()}`);
        throw new Error(`mosquitto ${status.exited}:\n${this.log()}`);
      }
      // "running": bound every listener (whatever answers on the port may be another process's)
      if (/ running$/m.test(since()) && (await this.accepts())) return;
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

/** A first start found its port taken (see Mosquitto.start). */
class PortTaken extends Error {}

/** Mosquitto ACL-file patterns equal to `deviceBrokerAcls` for the connecting username (`%u`). */
export function deviceAclPatterns(): string[] {
  return TOPIC_KINDS.map((kind) => {
    const access = mqttContract[kind].direction === 'device->cloud' ? 'write' : 'read';
    return `pattern ${access} ${topicOf(kind, '%u')}`;
  });
}

/**
 * Lets a device connect as the control plane's dynamic-security provisioning would (username =
 * client id = device id, a role with exactly the device's ACLs from the shared contract), for tests
 * that run an agent without a control plane. Idempotent: an existing client gets the new password.
 */
export async function provisionBrokerDevice(url: string, admin: BrokerAdmin, deviceId: string, password: string): Promise<void> {
  await dynsecCommands(url, admin, deviceCommands(deviceId, password), 'already exists');
}

function deviceCommands(deviceId: string, password: string): Record<string, unknown>[] {
  const role = `test-device-${deviceId}`;
  return [
    { command: 'createRole', rolename: role, acls: deviceBrokerAcls(deviceId) },
    { command: 'createClient', username: deviceId, clientid: deviceId, password, roles: [{ rolename: role }] },
    { command: 'setClientPassword', username: deviceId, password },
  ];
}

/** Sends dynamic-security commands as the admin; an answer with an error (other than `tolerated`) throws. */
async function dynsecCommands(url: string, admin: BrokerAdmin, commands: Record<string, unknown>[], tolerated?: string): Promise<void> {
  const client = await mqtt.connectAsync(url, { ...admin, reconnectPeriod: 0, connectTimeout: 5_000 });
  try {
    const answered = new Promise<Buffer>((resolve) => client.once('message', (_t, payload) => resolve(payload)));
    await client.subscribeAsync(DYNSEC_RESPONSE_TOPIC, { qos: 1 });
    await client.publishAsync(DYNSEC_TOPIC, JSON.stringify({ commands }), { qos: 1 });
    const { responses } = DynsecResponsesSchema.parse(JSON.parse((await answered).toString('utf8')));
    const failed = responses.find((r) => r.error !== undefined && !(tolerated !== undefined && r.error.includes(tolerated)));
    if (failed) throw new Error(`mosquitto refused ${failed.command}: ${failed.error ?? ''}`);
  } finally {
    await client.endAsync();
  }
}
