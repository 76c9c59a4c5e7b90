import {
  DynsecClientListSchema,
  DynsecClientSchema,
  DynsecRoleSchema,
  controlPlaneBrokerAcls,
  deviceBrokerAcls,
  type BrokerAcl,
  type DynsecResponse,
} from '@edge-fleet/shared';
import { isCanonicalDeviceId } from '../devices/device-auth.service.js';
import type { Logger } from '../infra/logger.js';
import type { BrokerAccess, DeviceAccess, ReconcileReport } from '../devices/broker-access.js';
import type { DynsecClient, DynsecCommand } from './dynsec-client.js';

/** The marker on every client this control plane made, so reconciliation touches no one else's. */
export const DEVICE_TEXTNAME = 'edge-fleet device';
export const CONTROL_PLANE_ROLE = 'edge-fleet-control-plane';
export const deviceRole = (deviceId: string): string => `edge-fleet-device-${deviceId}`;

/** Clients read per listClients page. */
const LIST_PAGE = 1_000;

/** An answer that says the thing already exists (or is already so) is what an idempotent call wants. */
const ALREADY = /already exists/i;

function check(r: DynsecResponse | undefined, what: string, tolerated: RegExp | null = null): DynsecResponse {
  if (!r) throw new Error(`dynamic security: no answer to ${what}`);
  if (r.error !== undefined && !(tolerated?.test(r.error) ?? false)) throw new Error(`dynamic security refused ${what}: ${r.error}`);
  return r;
}

function sameAcls(a: readonly { acltype: string; topic: string; allow: boolean }[], b: readonly BrokerAcl[]): boolean {
  const key = (x: { acltype: string; topic: string; allow: boolean }) => `${x.acltype.toLowerCase()} ${x.topic} ${String(x.allow)}`;
  const have = new Set(a.map(key));
  return a.length === b.length && b.every((x) => have.has(key(x)));
}

/**
 * Mosquitto's dynamic-security plugin as the broker's access control. Each device is a client
 * (username = device id, client id bound to it, password = its secret) with a role of its own that
 * allows exactly its topics (`deviceBrokerAcls`, the embedded broker's ACL); revocation disables
 * the client, which also ends its live session. The plugin keeps only a hash of each password, and
 * Postgres only a hash of each secret: the clear secret exists at enrollment, so that is when the
 * client gets its password. A device the broker does not know at start (a broker rebuilt without
 * its dynamic-security file) is created without a password: its CONNECTs are refused until it is
 * provisioned again (README, "Running with Mosquitto").
 */
export class DynsecBrokerAccess implements BrokerAccess {
  constructor(
    private readonly dynsec: DynsecClient,
    /** The control plane's own broker username (MQTT_USERNAME): the dynamic-security admin. */
    private readonly self: string,
    private readonly shareGroup: string,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    await this.dynsec.start();
    await this.ensureOwnRole();
  }

  async deviceEnrolled(deviceId: string, secret: string): Promise<void> {
    const [role, client] = await this.dynsec.run([
      { command: 'createRole', rolename: deviceRole(deviceId), acls: deviceBrokerAcls(deviceId) },
      this.createClient(deviceId, secret),
    ]);
    // a retried enrollment of the same id: put what exists in line instead
    if (check(role, `createRole for ${deviceId}`, ALREADY).error !== undefined)
      check(
        (await this.dynsec.run([{ command: 'modifyRole', rolename: deviceRole(deviceId), acls: deviceBrokerAcls(deviceId) }]))[0],
        'modifyRole',
      );
    if (check(client, `createClient for ${deviceId}`, ALREADY).error !== undefined)
      check(
        (await this.dynsec.run([{ command: 'modifyClient', username: deviceId, password: secret, ...this.binding(deviceId) }]))[0],
        `modifyClient for ${deviceId}`,
      );
  }

  async deviceRevoked(deviceId: string): Promise<void> {
    // a client the broker does not know cannot connect either
    check((await this.dynsec.run([{ command: 'disableClient', username: deviceId }]))[0], `disableClient for ${deviceId}`, /not found/i);
  }

  async deviceEnabled(deviceId: string): Promise<void> {
    const [r] = await this.dynsec.run([{ command: 'enableClient', username: deviceId }]);
    if (check(r, `enableClient for ${deviceId}`, /not found/i).error !== undefined) await this.createWithoutPassword(deviceId);
  }

  /**
   * The client's password replaced. Disabling a client ends its live sessions (changing only the
   * password would leave them running), so: disable, set the password, enable (not a revoked
   * device's: it stays disabled), in one batch.
   */
  async deviceSecretRotated(deviceId: string, secret: string, revoked: boolean): Promise<void> {
    const commands: DynsecCommand[] = [
      { command: 'disableClient', username: deviceId },
      { command: 'modifyClient', username: deviceId, password: secret, ...this.binding(deviceId) },
      ...(revoked ? [] : [{ command: 'enableClient', username: deviceId }]),
    ];
    const answers = await this.dynsec.run(commands);
    commands.forEach((c, i) => check(answers[i], `${c.command} for ${deviceId}`));
  }

  async reconcile(devices: readonly DeviceAccess[]): Promise<ReconcileReport> {
    const onBroker = new Map((await this.listClients()).map((c) => [c.username, c]));
    const report: ReconcileReport = { created: 0, disabled: 0, repaired: 0 };
    const commands: DynsecCommand[] = [];
    const known = new Set<string>();
    for (const d of devices) {
      known.add(d.id);
      const c = onBroker.get(d.id);
      if (d.revoked) {
        if (c && !c.disabled) {
          commands.push({ command: 'disableClient', username: d.id });
          report.disabled++;
        }
        continue;
      }
      if (!c) {
        commands.push(...this.createCommands(d.id));
        report.created++;
        continue;
      }
      const bound = c.clientid === d.id && (c.roles ?? []).some((r) => r.rolename === deviceRole(d.id));
      if (!bound) commands.push({ command: 'createRole', rolename: deviceRole(d.id), acls: deviceBrokerAcls(d.id) });
      if (!bound) commands.push({ command: 'modifyClient', username: d.id, ...this.binding(d.id) });
      if (c.disabled) commands.push({ command: 'enableClient', username: d.id });
      if (!bound || c.disabled) report.repaired++;
    }
    // clients this control plane made for devices Postgres does not have (an enrollment that did not commit)
    for (const c of onBroker.values()) {
      if (c.textname === DEVICE_TEXTNAME && isCanonicalDeviceId(c.username) && !known.has(c.username) && !c.disabled) {
        commands.push({ command: 'disableClient', username: c.username });
        report.disabled++;
      }
    }
    const answers = await this.dynsec.run(commands);
    answers.forEach((r, i) => check(r, `${commands[i]?.command ?? '?'} while reconciling`, ALREADY));
    if (commands.length > 0) this.log.info('broker clients reconciled with Postgres', { ...report });
    return report;
  }

  stop(): Promise<void> {
    return this.dynsec.stop();
  }

  private binding(deviceId: string) {
    return { clientid: deviceId, roles: [{ rolename: deviceRole(deviceId) }] };
  }

  private createClient(deviceId: string, password?: string): DynsecCommand {
    return {
      command: 'createClient',
      username: deviceId,
      ...(password === undefined ? {} : { password }),
      textname: DEVICE_TEXTNAME,
      ...this.binding(deviceId),
    };
  }

  private createCommands(deviceId: string): DynsecCommand[] {
    return [{ command: 'createRole', rolename: deviceRole(deviceId), acls: deviceBrokerAcls(deviceId) }, this.createClient(deviceId)];
  }

  private async createWithoutPassword(deviceId: string): Promise<void> {
    const answers = await this.dynsec.run(this.createCommands(deviceId));
    answers.forEach((r) => check(r, `provisioning ${deviceId}`, ALREADY));
  }

  private async listClients() {
    const all: {
      username: string;
      clientid?: string | undefined;
      disabled?: boolean | undefined;
      textname?: string | undefined;
      roles?: { rolename: string }[] | undefined;
    }[] = [];
    for (let offset = 0; ; offset += LIST_PAGE) {
      const r = check((await this.dynsec.run([{ command: 'listClients', verbose: true, count: LIST_PAGE, offset }]))[0], 'listClients');
      const page = DynsecClientListSchema.parse(r.data);
      all.push(...page.clients);
      if (page.clients.length < LIST_PAGE || all.length >= page.totalCount) return all;
    }
  }

  /**
   * The control plane's role (its shared subscriptions, what it publishes to devices) on its own
   * client. Changing a client's roles makes the plugin disconnect that username's connections, this
   * one included, so it is done only when something is missing, before the bus connects.
   */
  private async ensureOwnRole(): Promise<void> {
    const acls = controlPlaneBrokerAcls(this.shareGroup);
    const [created] = await this.dynsec.run([{ command: 'createRole', rolename: CONTROL_PLANE_ROLE, acls }]);
    if (check(created, 'createRole for the control plane', ALREADY).error !== undefined) {
      const got = check((await this.dynsec.run([{ command: 'getRole', rolename: CONTROL_PLANE_ROLE }]))[0], 'getRole');
      if (!sameAcls(DynsecRoleSchema.parse(got.data).role.acls ?? [], acls)) {
        this.log.info('control-plane broker role updated', { role: CONTROL_PLANE_ROLE });
        await this.dynsec.runExpectingKick([{ command: 'modifyRole', rolename: CONTROL_PLANE_ROLE, acls }]);
      }
    }
    const hasRole = async () => {
      const r = check((await this.dynsec.run([{ command: 'getClient', username: this.self }]))[0], `getClient ${this.self}`);
      return (DynsecClientSchema.parse(r.data).client.roles ?? []).some((x) => x.rolename === CONTROL_PLANE_ROLE);
    };
    if (await hasRole()) return;
    await this.dynsec.runExpectingKick([{ command: 'addClientRole', username: this.self, rolename: CONTROL_PLANE_ROLE, priority: 10 }]);
    if (!(await hasRole())) throw new Error(`the broker did not give ${this.self} the role ${CONTROL_PLANE_ROLE}`);
    this.log.info('control-plane broker role added to its client', { username: this.self, role: CONTROL_PLANE_ROLE });
  }
}
