import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { parseTopic, topics, type ReportedState, type UpdateOutcome } from '@edge-fleet/shared';
import { MqttClient } from 'mqtt';
import { decideUpdate, type InstallResult, type VirtualDesired, type VirtualDeviceOptions } from './virtual-device.contract.js';

export * from './virtual-device.contract.js';

const OFFLINE = '{"state":"offline"}';
/** How many received states and errors a device keeps: enough for any test, bounded for a fleet of 10,000 running for hours. */
const KEEP = 1_000;

/**
 * A device speaking the real protocol over the real broker without onnxruntime: presence (retained
 * `online`, `offline` as Last Will), desired state → update → reported state under the watermark
 * rules of the real agent, telemetry windows while connected. One update runs at a time, always
 * towards the newest desired state; a version whose update failed is not retried (the real agent
 * needs a new assignment too). On every (re)connect it subscribes again when the broker kept no
 * session, says `online` and reports what it runs.
 */
export class VirtualDevice<D extends VirtualDesired> {
  bootId = randomUUID();
  desired: D | null = null;
  active: NonNullable<D['model']> | null = null;
  applied: number | null = null;
  lastUpdate: UpdateOutcome | null = null;
  phase: ReportedState['phase'] = 'idle';
  /** Every desired state read off the broker, in order (the first 1,000). */
  readonly received: D[] = [];
  /** Connections made (the first included); grows after each outage when the device reconnects. */
  connections = 0;
  /** Refused desired states, failed publishes and on-connect work that did not complete (the first 1,000). */
  readonly errors: string[] = [];
  private client: MqttClient | null = null;
  private seq = 0;
  private windowStart = Date.now();
  private timer: NodeJS.Timeout | null = null;
  private updating = false;
  private gaveUp: number | null = null;
  private firstConnect: Promise<boolean> | null = null;
  private stopped = false;
  private isConnected = false;

  constructor(private readonly o: VirtualDeviceOptions<D>) {}

  get id(): string {
    return this.o.deviceId;
  }

  /** Whether the MQTT session is up right now. */
  get connected(): boolean {
    return this.isConnected;
  }

  /** The next telemetry window's sequence number: how many windows this boot has sent. */
  get nextSeq(): number {
    return this.seq;
  }

  /** Connects (telemetry starts with `startTelemetry`); `connectedOnce` tells when the first connection is ready. */
  start(): void {
    const { deviceId, deviceSecret, broker } = this.o;
    const client = new MqttClient(() => net.createConnection({ host: broker.host, port: broker.port, localAddress: broker.localAddress }), {
      protocolVersion: 4,
      clientId: deviceId,
      username: deviceId,
      password: deviceSecret,
      clean: true,
      keepalive: this.o.keepaliveSeconds ?? 60,
      connectTimeout: this.o.connectTimeoutMs ?? 30_000,
      reconnectPeriod: this.o.reconnectPeriodMs(),
      // subscriptions are made on connect, where the CONNACK says whether the broker kept them
      resubscribe: false,
      will: { topic: topics.status(deviceId), payload: Buffer.from(OFFLINE), qos: 1, retain: true },
    });
    this.client = client;
    client.on('close', () => this.onClose());
    // like the agent: each attempt that fails (no connection, or no CONNACK in time) waits longer
    let attempts = 0;
    client.on('reconnect', () => {
      const backoff = this.o.reconnectBackoffMs;
      if (backoff) client.options.reconnectPeriod = backoff(++attempts);
    });
    client.on('connect', () => {
      attempts = 0;
    });
    client.on('error', (err) => {
      this.error(`mqtt: ${err.message}`);
      this.o.events?.error?.(err);
    });
    client.on('message', (topic, payload) => this.onMessage(topic, payload));
    this.firstConnect = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), this.o.connectTimeoutMs ?? 30_000);
      client.on('connect', (connack) => {
        this.onConnect(client, connack.sessionPresent).then(
          (ok) => {
            if (!ok) return;
            clearTimeout(timer);
            resolve(true);
          },
          () => undefined, // onConnect records its own failures
        );
      });
    });
  }

  /** Resolves true once the first connection has subscribed and said `online`, false if none did in the connect timeout. */
  connectedOnce(): Promise<boolean> {
    return this.firstConnect ?? Promise.resolve(false);
  }

  /** Opens the first window after `firstDelayMs` (a fleet spreads its devices' phases), then one window after another. */
  startTelemetry(firstDelayMs = this.o.behaviour.windowMs(this.desired)): void {
    if (this.timer || this.stopped) return;
    this.windowStart = Date.now();
    this.scheduleWindow(firstDelayMs);
  }

  /**
   * Stops. `clean`: says `offline` itself and disconnects once its QoS 1 messages are acknowledged
   * (5 s at most); otherwise the socket just closes and the broker publishes the Last Will.
   */
  async stop({ clean = true }: { clean?: boolean } = {}): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    const client = this.client;
    this.client = null;
    if (!client) return;
    if (!clean) {
      await client.endAsync(true);
      return;
    }
    if (client.connected) {
      await new Promise<void>((resolve) => {
        client.publish(topics.status(this.id), this.statusPayload('offline'), { qos: 1, retain: true }, () => resolve());
        setTimeout(resolve, 2_000).unref();
      });
    }
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => client.end(true, {}, () => resolve()), 5_000);
      client.end(false, {}, () => {
        clearTimeout(force);
        resolve();
      });
    });
  }

  /**
   * Drops the connection as a network would; with `reconnectAfterMs` the next attempt waits that
   * long (a flapping link), else the usual period.
   */
  dropConnection(reconnectAfterMs?: number): void {
    const client = this.client;
    if (!client || this.stopped) return;
    if (reconnectAfterMs !== undefined) client.options.reconnectPeriod = reconnectAfterMs;
    client.stream.destroy();
  }

  private async onConnect(client: MqttClient, sessionPresent: boolean): Promise<boolean> {
    if (this.stopped) return false;
    this.isConnected = true;
    this.connections++;
    client.options.reconnectPeriod = this.o.reconnectPeriodMs();
    this.o.events?.connect?.();
    try {
      await Promise.all([
        sessionPresent
          ? Promise.resolve()
          : client.subscribeAsync({ [topics.desired(this.id)]: { qos: 1 }, [topics.commands(this.id)]: { qos: 1 } }),
        client.publishAsync(topics.status(this.id), this.statusPayload('online'), { qos: 1, retain: true }),
      ]);
      this.report();
      return true;
    } catch (err) {
      this.error(`on-connect: ${err instanceof Error ? err.message : String(err)}`);
      return false;
    }
  }

  private onClose(): void {
    if (!this.isConnected) return;
    this.isConnected = false;
    this.o.events?.close?.();
  }

  private error(what: string): void {
    if (this.errors.length < KEEP) this.errors.push(what);
  }

  private statusPayload(state: 'online' | 'offline'): string {
    return JSON.stringify({ state, bootId: this.bootId, at: new Date().toISOString() });
  }

  private onMessage(topic: string, payload: Buffer): void {
    const t = parseTopic(topic);
    if (t?.deviceId !== this.id || t.kind !== 'desired' || payload.length === 0) return; // a cleared retained message
    let d: D | null;
    try {
      d = this.o.behaviour.readDesired(payload);
    } catch (err) {
      this.error(`desired state refused: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    if (d?.deviceId !== this.id) return;
    if (this.received.length < KEEP) this.received.push(d);
    this.o.events?.desired?.(d, Date.now());
    this.desired = d;
    void this.reconcile();
  }

  private async reconcile(): Promise<void> {
    if (this.updating) return;
    this.updating = true;
    try {
      for (;;) {
        const target = this.desired;
        if (!target || this.stopped) return;
        const version = target.assignmentVersion;
        const decision = decideUpdate(target, this.applied, this.active?.sha256 ?? null);
        if (decision.kind === 'none' || (decision.kind === 'install' && version === this.gaveUp)) return;
        const result = decision.kind === 'install' ? await this.install(version, decision.model) : { outcome: 'ok' as const };
        if (decision.kind === 'clear') this.active = null;
        // the same bytes under the names the new state gives them (another variant or model version can share a file)
        if (decision.kind === 'same-model') this.active = decision.model;
        this.finish(version, result);
      }
    } finally {
      this.updating = false;
    }
  }

  private async install(version: number, model: NonNullable<D['model']>): Promise<InstallResult> {
    const result = await this.o.behaviour.install(model, version, {
      setPhase: (phase) => {
        this.phase = phase;
        if (this.o.reportPhases !== false) this.report();
      },
      crash: () => this.crash(),
    });
    if (result.outcome === 'ok') this.active = model;
    return result;
  }

  /** Like the real agent: success moves the watermark; a failure keeps the previous model and says why. */
  private finish(version: number, result: InstallResult): void {
    this.lastUpdate = { assignmentVersion: version, ...result, at: new Date().toISOString() };
    if (result.outcome === 'ok') this.applied = version;
    else this.gaveUp = version;
    this.phase = result.outcome === 'failed' ? 'failed' : this.active ? 'running' : 'idle';
    this.report();
  }

  private crash(): void {
    this.client?.stream.destroy();
    this.bootId = randomUUID();
    this.seq = 0;
  }

  private report(): void {
    const client = this.client;
    if (!client || !this.isConnected || this.o.behaviour.mute?.()) return;
    const r: ReportedState = {
      schema: 1,
      deviceId: this.id,
      bootId: this.bootId,
      phase: this.phase,
      appliedAssignmentVersion: this.applied,
      active: this.active
        ? {
            modelVersionId: this.active.modelVersionId,
            variantId: this.active.variantId,
            precision: this.active.precision,
            sha256: this.active.sha256,
          }
        : null,
      lastUpdate: this.lastUpdate,
      agentVersion: this.o.agentVersion,
      reportedAt: new Date().toISOString(),
    };
    this.o.events?.reported?.(r);
    client.publish(topics.reported(this.id), JSON.stringify(r), { qos: 1 }, (err) => {
      // a report still in flight when the device stops is dropped with its connection
      if (err && !this.stopped) this.error(`report: ${err.message}`);
    });
  }

  private scheduleWindow(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.closeWindow();
      this.scheduleWindow(this.o.behaviour.windowMs(this.desired));
    }, delayMs);
  }

  private closeWindow(): void {
    const now = Date.now();
    const client = this.client;
    if (this.o.behaviour.mute?.()) return;
    if (!client || !this.isConnected) {
      this.o.events?.telemetrySkippedOffline?.();
      return;
    }
    const w = this.o.behaviour.window({
      deviceId: this.id,
      bootId: this.bootId,
      seq: this.seq,
      startMs: this.windowStart,
      endMs: now,
      active: this.active,
      desired: this.desired,
    });
    this.windowStart = now;
    if (w === null) return;
    this.seq += 1;
    this.o.events?.telemetrySent?.();
    client.publish(topics.telemetry(this.id), JSON.stringify(w), { qos: 1 }, (err) => {
      if (err) this.o.events?.telemetryFailed?.();
      else this.o.events?.telemetryAcked?.(now, Date.now());
    });
  }
}
