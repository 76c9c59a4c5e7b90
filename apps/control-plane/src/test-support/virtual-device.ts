import { randomUUID } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import { DesiredStateSchema, topics, type DesiredState, type EnrollResponse, type HardwarePresetName, type ReportedState, type Scenario, type UpdateOutcome } from '@edge-fleet/shared';
import { connectDevice, enrollDevice } from './device-client.js';
import type { Harness } from './harness.js';

export interface VirtualDeviceBehaviour {
  /** Latency the device reports for a variant (ms at every percentile). */
  latencyMs?: (variantId: string) => number;
  /** Fails every update with this reason instead of applying it. */
  failUpdate?: UpdateOutcome['reasonCode'];
  /** Applies updates but sends no telemetry. */
  silent?: boolean;
  windowMs?: number;
}

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
  readonly received: DesiredState[] = [];
  private seq = 0;
  private timer: NodeJS.Timeout | null = null;

  private constructor(
    readonly enrollment: EnrollResponse,
    private readonly client: MqttClient,
    public behaviour: VirtualDeviceBehaviour,
  ) {}

  get id(): string {
    return this.enrollment.deviceId;
  }

  static async start(h: Harness, scenario: Scenario, preset: HardwarePresetName, behaviour: VirtualDeviceBehaviour = {}): Promise<VirtualDevice> {
    const e = await enrollDevice(h, scenario, preset);
    const client = await connectDevice(h, e);
    const d = new VirtualDevice(e, client, behaviour);
    client.on('message', (_topic, payload) => d.onDesired(payload));
    await client.subscribeAsync(topics.desired(e.deviceId), { qos: 1 });
    await client.publishAsync(topics.status(e.deviceId), JSON.stringify({ state: 'online', bootId: d.bootId, at: new Date().toISOString() }), { qos: 1, retain: true });
    d.timer = setInterval(() => d.window(), behaviour.windowMs ?? 200);
    return d;
  }

  private onDesired(payload: Buffer): void {
    const desired = DesiredStateSchema.parse(JSON.parse(payload.toString('utf8')));
    this.received.push(desired);
    if (this.applied !== null && desired.assignmentVersion <= this.applied) return;
    this.desired = desired;
    const at = new Date().toISOString();
    if (this.behaviour.failUpdate && desired.model && desired.model.variantId !== this.active?.variantId) {
      this.lastUpdate = { assignmentVersion: desired.assignmentVersion, outcome: 'failed', reasonCode: this.behaviour.failUpdate, message: `virtual device told to fail with ${this.behaviour.failUpdate}`, at };
    } else {
      this.active = desired.model;
      this.applied = desired.assignmentVersion;
      this.lastUpdate = { assignmentVersion: desired.assignmentVersion, outcome: 'ok', at };
    }
    void this.report();
  }

  private async report(): Promise<void> {
    const r: ReportedState = {
      schema: 1, deviceId: this.id, bootId: this.bootId, phase: this.active ? 'running' : 'idle', appliedAssignmentVersion: this.applied,
      active: this.active ? { modelVersionId: this.active.modelVersionId, variantId: this.active.variantId, precision: this.active.precision, sha256: this.active.sha256 } : null,
      lastUpdate: this.lastUpdate, agentVersion: 'virtual-device', reportedAt: new Date().toISOString(),
    };
    await this.client.publishAsync(topics.reported(this.id), JSON.stringify(r), { qos: 1 });
  }

  private window(): void {
    if (!this.active || this.behaviour.silent) return;
    const end = new Date();
    const ms = this.behaviour.latencyMs?.(this.active.variantId) ?? 5;
    const w = {
      schema: 1, deviceId: this.id, bootId: this.bootId, seq: this.seq++, windowStart: new Date(end.getTime() - (this.behaviour.windowMs ?? 200)).toISOString(), windowEnd: end.toISOString(),
      modelVersionId: this.active.modelVersionId, variantId: this.active.variantId, precision: this.active.precision,
      inferences: 20, errors: 0, latencyMs: { p50: ms, p95: ms, p99: ms, max: ms },
      power: { watts: 3, source: 'simulated', detail: 'virtual device in a test' }, memory: { rssMb: 50, heapUsedMb: 10 },
    };
    this.client.publish(topics.telemetry(this.id), JSON.stringify(w), { qos: 1 });
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.client.endAsync(true);
  }
}
