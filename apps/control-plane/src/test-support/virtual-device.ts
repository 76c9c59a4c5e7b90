import type {
  DesiredStatePayload,
  EnrollResponse,
  HardwarePresetName,
  RuntimeSettings,
  Scenario,
  SparseHistogram,
  UpdateOutcome,
} from '@edge-fleet/shared';
import {
  brokerAddress,
  type InstallResult,
  VirtualDevice as ProtocolDevice,
  type WindowContext,
} from '@edge-fleet/test-utils/virtual-device';
import { enrollDevice } from './device-client.js';
import type { ApiTarget } from './harness.js';
import { desiredKeySerial, openSignedDesired } from './signed-desired.js';

export interface VirtualDeviceBehaviour {
  /** Latency the device reports for a variant (ms at every percentile). */
  latencyMs?: (variantId: string) => number;
  /** Power the device reports (W), given the runtime settings of its latest desired state; 3 W unless told. */
  powerW?: (variantId: string, runtime: RuntimeSettings | undefined) => number;
  /** Fails every update with this reason instead of applying it. */
  failUpdate?: UpdateOutcome['reasonCode'];
  /** With `failUpdate`: fails only the updates to variants this picks (a model too large for the device, say). */
  failVariant?: (variantId: string) => boolean;
  /** Applies updates but sends no telemetry. */
  silent?: boolean;
  windowMs?: number;
  /**
   * The window's latency histogram and inference count for a variant (an agent with histograms);
   * without it the device reports only p50/p95/p99 like an agent that predates them.
   */
  histogram?: (variantId: string, seq: number) => { inferences: number; histogram: SparseHistogram };
  /**
   * Opt-in, read once by `start`: the device outlives broker outages as the real agent does. It
   * reconnects every `reconnectPeriodMs` (300 ms unless told); on every (re)connect it subscribes to
   * its desired state again when the broker kept no session, publishes `status` `online` (retained)
   * so the control plane re-publishes its desired state from Postgres, and reports what it runs.
   * While disconnected it sends no telemetry (windows are not queued). Without it, the device makes
   * one connection and never reconnects.
   */
  reconnect?: boolean;
  reconnectPeriodMs?: number;
  /** With `reconnect`: the wait after the n-th failed attempt in a row (the agent's backoff); otherwise `reconnectPeriodMs` each time. */
  reconnectBackoffMs?: (attempt: number) => number;
}

/**
 * An enrolled device of the control plane under test: the shared virtual device (packages/test-utils,
 * the same protocol the fleet simulator speaks) with a character a test controls: it verifies each
 * desired state's signature as the real agent does, applies updates at once (or fails them, as told)
 * and reports telemetry windows with the latency it is told. The end-to-end tests use the real agent;
 * this keeps control-plane tests fast and precise.
 */
export class VirtualDevice {
  private readonly device: ProtocolDevice<DesiredStatePayload>;
  /** When each desired state reached the device (`Date.now()` on arrival) and the variant it named, in order. */
  readonly deliveries: { assignmentVersion: number; variantId: string | null; at: number }[] = [];
  /** The signing-key serial of each desired state accepted, in order (see key rotation). */
  readonly keySerials: number[] = [];

  private constructor(
    readonly enrollment: EnrollResponse,
    mqttUrl: string,
    public behaviour: VirtualDeviceBehaviour,
  ) {
    const windowMs = (): number => this.behaviour.windowMs ?? 200;
    const reconnectPeriodMs = behaviour.reconnect ? (behaviour.reconnectPeriodMs ?? 300) : 0;
    this.device = new ProtocolDevice<DesiredStatePayload>({
      deviceId: enrollment.deviceId,
      deviceSecret: enrollment.deviceSecret,
      broker: brokerAddress(mqttUrl),
      agentVersion: 'virtual-device',
      connectTimeoutMs: 5_000,
      reconnectPeriodMs: () => reconnectPeriodMs,
      ...(behaviour.reconnect && behaviour.reconnectBackoffMs ? { reconnectBackoffMs: behaviour.reconnectBackoffMs } : {}),
      behaviour: {
        readDesired: (payload) => {
          const d = openSignedDesired(payload, enrollment.rootPublicKey);
          this.keySerials.push(desiredKeySerial(payload));
          return d;
        },
        install: (model) => Promise.resolve(this.install(model)),
        window: (w) => this.window(w, windowMs()),
        windowMs,
      },
      events: {
        desired: (d, at) => {
          this.deliveries.push({ assignmentVersion: d.assignmentVersion, variantId: d.model?.variantId ?? null, at });
        },
      },
    });
  }

  get id(): string {
    return this.enrollment.deviceId;
  }
  get bootId(): string {
    return this.device.bootId;
  }
  /** What runs, as the desired state named it. */
  get active(): DesiredStatePayload['model'] {
    return this.device.active;
  }
  get applied(): number | null {
    return this.device.applied;
  }
  get lastUpdate(): UpdateOutcome | null {
    return this.device.lastUpdate;
  }
  /** Every desired state received, as signed (the control plane signs each one as a whole). */
  get received(): readonly DesiredStatePayload[] {
    return this.device.received;
  }
  /** Connections made to the broker (the first one included); with `reconnect` it grows after each outage. */
  get connections(): number {
    return this.device.connections;
  }
  /** Publishes that failed, desired states refused, or on-connect work that did not complete. */
  get errors(): readonly string[] {
    return this.device.errors;
  }
  /** Whether the MQTT session is up right now. */
  get connected(): boolean {
    return this.device.connected;
  }
  /** The next telemetry window's number: how many windows the device has sent. */
  get seq(): number {
    return this.device.nextSeq;
  }

  /** Enrolls a device and connects it; resolves once it has subscribed and said `online`. */
  static async start(
    h: ApiTarget,
    scenario: Scenario,
    preset: HardwarePresetName,
    behaviour: VirtualDeviceBehaviour = {},
  ): Promise<VirtualDevice> {
    return VirtualDevice.connect(h, await enrollDevice(h, scenario, preset), behaviour);
  }

  /** Connects an enrolled device (many enrolled with one token, say); resolves once it has subscribed and said `online`. */
  static async connect(h: Pick<ApiTarget, 'config'>, e: EnrollResponse, behaviour: VirtualDeviceBehaviour = {}): Promise<VirtualDevice> {
    const d = new VirtualDevice(e, h.config.mqttUrl, behaviour);
    d.device.start();
    if (!(await d.device.connectedOnce())) {
      await d.device.stop({ clean: false });
      throw new Error(`device ${e.deviceId} did not connect to ${h.config.mqttUrl} within 5 s: ${d.device.errors.join('; ')}`);
    }
    d.device.startTelemetry();
    return d;
  }

  /** Closes the socket without a word: the broker publishes the Last Will (`offline`). */
  async stop(): Promise<void> {
    await this.device.stop({ clean: false });
  }

  private install(model: NonNullable<DesiredStatePayload['model']>): InstallResult {
    const reasonCode = this.behaviour.failUpdate;
    if (reasonCode && model.variantId !== this.device.active?.variantId && (this.behaviour.failVariant?.(model.variantId) ?? true))
      return { outcome: 'failed', reasonCode, message: `virtual device told to fail with ${reasonCode}` };
    return { outcome: 'ok' };
  }

  private window(w: WindowContext<DesiredStatePayload>, windowMs: number): object | null {
    const active = w.active;
    if (!active || this.behaviour.silent) return null;
    const ms = this.behaviour.latencyMs?.(active.variantId) ?? 5;
    const h = this.behaviour.histogram?.(active.variantId, w.seq);
    return {
      schema: 1,
      deviceId: w.deviceId,
      bootId: w.bootId,
      seq: w.seq,
      windowStart: new Date(w.endMs - windowMs).toISOString(),
      windowEnd: new Date(w.endMs).toISOString(),
      modelVersionId: active.modelVersionId,
      variantId: active.variantId,
      precision: active.precision,
      inferences: h?.inferences ?? 20,
      errors: 0,
      latencyMs: { p50: ms, p95: ms, p99: ms, max: ms },
      power: {
        watts: this.behaviour.powerW?.(active.variantId, this.device.received.at(-1)?.runtime) ?? 3,
        source: 'simulated',
        detail: 'virtual device in a test',
      },
      memory: { rssMb: 50, heapUsedMb: 10 },
      ...(h ? { latencyHistogram: h.histogram } : {}),
    };
  }
}
