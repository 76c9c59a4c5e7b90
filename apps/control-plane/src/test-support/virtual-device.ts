import { randomUUID } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import {
  topics,
  type DesiredState,
  type DesiredStatePayload,
  type EnrollResponse,
  type HardwarePresetName,
  type ReportedState,
  type Scenario,
  type UpdateOutcome,
} from '@edge-fleet/shared';
import { connectDevice, enrollDevice } from './device-client.js';
import type { ApiTarget } from './harness.js';
import { openSignedDesired } from './signed-desired.js';

export interface VirtualDeviceBehaviour {
  /** Latency the device reports for a variant (ms at every percentile). */
  latencyMs?: (variantId: string) => number;
  /** Fails every update with this reason instead of applying it. */
  failUpdate?: UpdateOutcome['reasonCode'];
  /** Applies updates but sends no telemetry. */
  silent?: boolean;
  windowMs?: number;
  /**
   * Opt-in, read once by `start`: the device outlives broker outages as the real agent does. mqtt.js
   * reconnects every `reconnectPeriodMs` (300 ms unless told); on every (re)connect the device
   * subscribes to its desired state again when the broker kept no session, publishes `status`
   * `online` (retained) so the control plane re-publishes its desired state from Postgres, and
   * reports what it runs. While disconnected it sends no telemetry (windows are not queued).
   * Without it, the device makes one connection and never reconnects.
   */
  reconnect?: boolean;
  reconnectPeriodMs?: number;
}

const offline = (): Buffer => Buffer.from('{"state":"offline"}');

/**
 * A device speaking the real protocol over the real broker, without onnxruntime: it applies each
 * desired state it receives (or fails it, as told) and reports telemetry windows for what it runs.
 * The end-to-end tests use the real agent; this keeps control-plane tests fast and precise.
 */
export class VirtualDevice {
  readonly bootId = randomUUID();
  desired: DesiredState | null = null;
  active: DesiredState['model'] = null;
  applied: number | null = null;
  lastUpdate: UpdateOutcome | null = null;
  /** Every desired state received, as signed (the control plane signs each one as a whole). */
  readonly received: DesiredStatePayload[] = [];
  /** Connections made to the broker (the first one included); with `reconnect` it grows after each outage. */
  connections = 0;
  /** Publishes that failed or on-connect work that did not complete (e.g. the session ended meanwhile). */
  readonly errors: string[] = [];
  private seq = 0;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  private constructor(
    readonly enrollment: EnrollResponse,
    private readonly client: MqttClient,
    public behaviour: VirtualDeviceBehaviour,
  ) {}

  get id(): string {
    return this.enrollment.deviceId;
  }

  /** Whether the MQTT session is up right now. */
  get connected(): boolean {
    return this.client.connected;
  }

  static async start(
    h: ApiTarget,
    scenario: Scenario,
    preset: HardwarePresetName,
    behaviour: VirtualDeviceBehaviour = {},
  ): Promise<VirtualDevice> {
    const e = await enrollDevice(h, scenario, preset);
    if (behaviour.reconnect) return VirtualDevice.startReconnecting(h, e, behaviour);
    const client = await connectDevice(h, e);
    const d = new VirtualDevice(e, client, behaviour);
    d.connections = 1;
    client.on('message', (_topic, payload) => d.onDesired(payload));
    await client.subscribeAsync(topics.desired(e.deviceId), { qos: 1 });
    await client.publishAsync(topics.status(e.deviceId), d.online(), { qos: 1, retain: true });
    d.timer = setInterval(() => d.window(), behaviour.windowMs ?? 200);
    return d;
  }

  /**
   * Like `connectDevice` (same identity, credentials and Last Will), but mqtt.js keeps reconnecting;
   * resolves once the first connection has subscribed and said `online`.
   */
  private static async startReconnecting(h: ApiTarget, e: EnrollResponse, behaviour: VirtualDeviceBehaviour): Promise<VirtualDevice> {
    const client = mqtt.connect(h.config.mqttUrl, {
      clientId: e.deviceId,
      username: e.deviceId,
      password: e.deviceSecret,
      protocolVersion: 4,
      clean: true,
      reconnectPeriod: behaviour.reconnectPeriodMs ?? 300,
      connectTimeout: 5_000,
      // subscriptions are made in onConnect, where the CONNACK says whether the broker kept them
      resubscribe: false,
      will: { topic: topics.status(e.deviceId), payload: offline(), qos: 1, retain: true },
    });
    const d = new VirtualDevice(e, client, behaviour);
    client.on('message', (_topic, payload) => d.onDesired(payload));
    // refused connections while the broker is away are expected: mqtt.js tries again
    client.on('error', (err) => d.errors.push(`mqtt: ${err.message}`));
    const first = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`device ${e.deviceId} did not connect to ${h.config.mqttUrl} within 5 s`)), 5_000);
      client.on('connect', (connack) => {
        d.onConnect(connack.sessionPresent).then(
          (ok) => {
            if (!ok) return;
            clearTimeout(timer);
            resolve();
          },
          (err: unknown) => d.errors.push(`on-connect: ${String(err)}`),
        );
      });
    });
    try {
      await first;
    } catch (err) {
      client.end(true);
      throw err;
    }
    d.timer = setInterval(() => d.window(), behaviour.windowMs ?? 200);
    return d;
  }

  /** What the real agent does on each connection: subscriptions, presence, then its reported state. */
  private async onConnect(sessionPresent: boolean): Promise<boolean> {
    if (this.stopped) return false;
    this.connections++;
    try {
      if (!sessionPresent) await this.client.subscribeAsync(topics.desired(this.id), { qos: 1 });
      await this.client.publishAsync(topics.status(this.id), this.online(), { qos: 1, retain: true });
      if (this.connections > 1 && (this.applied !== null || this.lastUpdate)) await this.report();
      return true;
    } catch (err) {
      this.errors.push(`on-connect: ${err instanceof Error ? err.message : String(err)}`);
      return false;
    }
  }

  private online(): string {
    return JSON.stringify({ state: 'online', bootId: this.bootId, at: new Date().toISOString() });
  }

  private onDesired(payload: Buffer): void {
    if (payload.length === 0) return; // a cleared retained message
    let desired: DesiredStatePayload;
    try {
      desired = openSignedDesired(payload, this.enrollment.rootPublicKey);
    } catch (err) {
      this.errors.push(`desired state refused: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    this.received.push(desired);
    if (this.applied !== null && desired.assignmentVersion <= this.applied) return;
    this.desired = desired;
    const at = new Date().toISOString();
    if (this.behaviour.failUpdate && desired.model && desired.model.variantId !== this.active?.variantId) {
      this.lastUpdate = {
        assignmentVersion: desired.assignmentVersion,
        outcome: 'failed',
        reasonCode: this.behaviour.failUpdate,
        message: `virtual device told to fail with ${this.behaviour.failUpdate}`,
        at,
      };
    } else {
      this.active = desired.model;
      this.applied = desired.assignmentVersion;
      this.lastUpdate = { assignmentVersion: desired.assignmentVersion, outcome: 'ok', at };
    }
    void this.report();
  }

  /** Never rejects: a report still in flight when the device stops is dropped with its connection. */
  private async report(): Promise<void> {
    const r: ReportedState = {
      schema: 1,
      deviceId: this.id,
      bootId: this.bootId,
      phase: this.active ? 'running' : 'idle',
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
      agentVersion: 'virtual-device',
      reportedAt: new Date().toISOString(),
    };
    try {
      await this.client.publishAsync(topics.reported(this.id), JSON.stringify(r), { qos: 1 });
    } catch (err) {
      if (!this.stopped) this.errors.push(`report: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  private window(): void {
    if (!this.active || this.behaviour.silent) return;
    if (this.behaviour.reconnect && !this.client.connected) return;
    const end = new Date();
    const ms = this.behaviour.latencyMs?.(this.active.variantId) ?? 5;
    const w = {
      schema: 1,
      deviceId: this.id,
      bootId: this.bootId,
      seq: this.seq++,
      windowStart: new Date(end.getTime() - (this.behaviour.windowMs ?? 200)).toISOString(),
      windowEnd: end.toISOString(),
      modelVersionId: this.active.modelVersionId,
      variantId: this.active.variantId,
      precision: this.active.precision,
      inferences: 20,
      errors: 0,
      latencyMs: { p50: ms, p95: ms, p99: ms, max: ms },
      power: { watts: 3, source: 'simulated', detail: 'virtual device in a test' },
      memory: { rssMb: 50, heapUsedMb: 10 },
    };
    this.client.publish(topics.telemetry(this.id), JSON.stringify(w), { qos: 1 });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.client.endAsync(true);
  }
}
