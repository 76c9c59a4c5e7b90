import {
  type InstallContext,
  type InstallResult,
  VirtualDevice as ProtocolDevice,
  type WindowContext,
} from '@edge-fleet/test-utils/virtual-device';
import { parsePayload } from '@edge-fleet/shared';
import { createPrng } from '../core/prng.js';
import type { SimDeviceCredentials } from './credentials.file.js';
import { readSimDesired, type SimDesiredModel, type SimDesiredState } from './desired.view.js';
import { FaultState, type FaultSet } from './faults.js';
import type { FleetHooks, SimTiming } from './fleet.types.js';
import { buildWindow } from './telemetry.builder.js';
import { deviceSpeedFactor } from './latency.model.js';
import { updateDelays } from './update.plan.js';

export const SIM_AGENT_VERSION = 'fleet-sim/0.1.0';
/** The real agent's window length until a desired state says otherwise. */
const DEFAULT_WINDOW_MS = 10_000;

export interface VirtualDeviceOptions {
  creds: SimDeviceCredentials;
  broker: { host: string; port: number };
  localAddress: string | undefined;
  faults: FaultSet;
  seed: number;
  timing: SimTiming;
  hooks: FleetHooks;
}

/**
 * One simulated device: the shared virtual device (packages/test-utils, the protocol the control
 * plane's tests speak too) with the simulator's character: updates that take the time a model of
 * that size would, telemetry from the latency model, injected faults and fleet-wide counters.
 */
export class VirtualDevice {
  private readonly device: ProtocolDevice<SimDesiredState>;
  private readonly rand: () => number;
  private readonly faults: FaultState;
  private flapTimer: NodeJS.Timeout | null = null;
  private silentAt = Number.POSITIVE_INFINITY;
  /** This unit's speed among its hardware class, from its own seed (so a run replays). */
  private readonly deviceFactor: number;

  constructor(private readonly o: VirtualDeviceOptions) {
    this.rand = createPrng(o.seed);
    this.deviceFactor = deviceSpeedFactor(createPrng(o.seed ^ 0x5eed));
    this.faults = new FaultState(o.faults, this.rand);
    if (this.faults.has('silent')) this.silentAt = Date.now() + 10_000 + this.rand() * 50_000;
    const c = o.hooks.counters;
    this.device = new ProtocolDevice<SimDesiredState>({
      deviceId: o.creds.deviceId,
      deviceSecret: o.creds.deviceSecret,
      broker: { ...o.broker, localAddress: o.localAddress },
      agentVersion: SIM_AGENT_VERSION,
      keepaliveSeconds: o.timing.keepaliveSeconds,
      connectTimeoutMs: 30_000,
      reconnectPeriodMs: () => this.jittered(),
      reportPhases: o.timing.reportPhases,
      behaviour: {
        readDesired: (payload) => {
          const m = parsePayload('desired', o.creds.deviceId, payload);
          return m.ok ? readSimDesired(m.payload) : null;
        },
        install: (model, version, ctx) => this.install(model, version, ctx),
        window: (w) => this.window(w),
        windowMs: (desired) => o.timing.telemetryIntervalMs ?? (desired ? desired.runtime.windowSeconds * 1000 : DEFAULT_WINDOW_MS),
        mute: () => Date.now() >= this.silentAt,
      },
      events: {
        connect: () => {
          c.connected += 1;
          c.connects += 1;
        },
        close: () => (c.connected -= 1),
        error: () => (c.connectErrors += 1),
        desired: (d, at) => {
          c.desiredReceived += 1;
          o.hooks.onDesired?.(d.deviceId, d.assignmentVersion, at);
        },
        reported: () => (c.reportedSent += 1),
        telemetrySent: () => (c.telemetrySent += 1),
        telemetryAcked: (publishedAt, ackedAt) => {
          c.telemetryAcked += 1;
          o.hooks.onTelemetryAcked?.(publishedAt, ackedAt);
        },
        telemetryFailed: () => (c.telemetryFailed += 1),
        telemetrySkippedOffline: () => (c.telemetrySkippedOffline += 1),
      },
    });
  }

  get deviceId(): string {
    return this.o.creds.deviceId;
  }

  get connected(): boolean {
    return this.device.connected;
  }

  /** Connects; with `telemetry` false, windows start only when `startTelemetry` is called (benchmarks start a whole fleet at once). */
  start(telemetry = true): void {
    this.device.start();
    if (telemetry) this.startTelemetry();
    if (this.faults.has('flap')) this.scheduleFlap();
  }

  /** Opens the first window, with a random phase so the fleet does not publish in lockstep. */
  startTelemetry(): void {
    const first =
      this.o.timing.telemetryIntervalMs ?? (this.device.desired ? this.device.desired.runtime.windowSeconds * 1000 : DEFAULT_WINDOW_MS);
    this.device.startTelemetry(this.rand() * first);
  }

  /** Resolves when the first connection is up (true) or after 30 s without one (false); connects are paced on it. */
  connectedOnce(): Promise<boolean> {
    return this.device.connectedOnce();
  }

  async stop(): Promise<void> {
    if (this.flapTimer) clearTimeout(this.flapTimer);
    await this.device.stop();
  }

  private jittered(): number {
    const base = this.o.timing.reconnectBaseMs;
    return Math.round(base + this.rand() * 2 * base);
  }

  private window(w: WindowContext<SimDesiredState>): object {
    const a = w.active;
    return buildWindow({
      deviceId: w.deviceId,
      bootId: w.bootId,
      seq: w.seq,
      startMs: w.startMs,
      endMs: w.endMs,
      profile: this.o.creds.hardwareProfile,
      preset: this.o.creds.preset,
      model: a
        ? {
            modelVersionId: a.modelVersionId,
            variantId: a.variantId,
            sha256: a.sha256,
            precision: a.precision,
            sizeBytes: a.sizeBytes,
            measured: this.o.hooks.measured(a.modelVersionId, a.variantId),
          }
        : null,
      rateHz: w.desired?.runtime.targetRateHz ?? 10,
      slowFactor: this.faults.has('slow') ? this.o.timing.slowFactor : 1,
      deviceFactor: this.deviceFactor,
      faults: this.faults,
      rand: this.rand,
    });
  }

  private async install(model: SimDesiredModel, _version: number, ctx: InstallContext): Promise<InstallResult> {
    const delays = updateDelays(model, this.o.timing.updateTimeScale, this.rand());
    const c = this.o.hooks.counters;
    ctx.setPhase('downloading');
    await pause(delays.downloadMs);
    if (this.faults.has('failDownload')) {
      c.updatesFailed += 1;
      return { outcome: 'failed', reasonCode: 'download_failed', message: 'simulated: artifact download failed (fault injection)' };
    }
    ctx.setPhase('verifying');
    await pause(delays.verifyMs);
    ctx.setPhase('loading');
    await pause(delays.activateMs);
    if (this.faults.has('crashActivation')) {
      c.crashes += 1;
      c.updatesFailed += 1;
      ctx.crash();
      await pause(2_000 + this.rand() * 3_000); // the reboot
      return { outcome: 'failed', reasonCode: 'load_failed', message: 'simulated: device crashed during activation; previous model kept' };
    }
    c.updatesOk += 1;
    return { outcome: 'ok' };
  }

  private scheduleFlap(): void {
    this.flapTimer = setTimeout(
      () => {
        this.o.hooks.counters.flaps += 1;
        this.device.dropConnection(2_000 + this.rand() * 8_000);
        this.scheduleFlap();
      },
      20_000 + this.rand() * 40_000,
    );
  }
}

const pause = (ms: number): Promise<void> => (ms <= 0 ? Promise.resolve() : new Promise((r) => setTimeout(r, ms)));
