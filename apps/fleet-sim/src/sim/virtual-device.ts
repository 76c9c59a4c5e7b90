import { randomUUID } from 'node:crypto';
import net from 'node:net';
import {
  lastWill,
  mqttContract,
  parseMessage,
  publishArgs,
  topics,
  type PublishArgs,
  type ReportedState,
  type UpdateOutcome,
} from '@edge-fleet/shared';
import { MqttClient } from 'mqtt';
import { createPrng } from '../core/prng.js';
import type { SimDeviceCredentials } from './credentials.file.js';
import { readSimDesired, type SimDesiredModel, type SimDesiredState } from './desired.view.js';
import { FaultState, type FaultSet } from './faults.js';
import type { FleetHooks, SimTiming } from './fleet.types.js';
import { buildWindow, type ActiveSimModel } from './telemetry.builder.js';
import { decideUpdate, updateDelays } from './update.plan.js';

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

/** One simulated device speaking the real protocol: presence with Last Will, desired → update → reported, telemetry windows. */
export class VirtualDevice {
  private client: MqttClient | null = null;
  private bootId = randomUUID();
  private seq = 0;
  private windowStart = Date.now();
  private timer: NodeJS.Timeout | null = null;
  private flapTimer: NodeJS.Timeout | null = null;
  private readonly rand: () => number;
  private readonly faults: FaultState;
  private desired: SimDesiredState | null = null;
  private applied: number | null = null;
  private active: ActiveSimModel | null = null;
  private phase: ReportedState['phase'] = 'idle';
  private lastUpdate: UpdateOutcome | null = null;
  private updating = false;
  /** A version whose update failed is not retried (the real agent would need a new assignment too). */
  private gaveUp: number | null = null;
  private firstConnect: Promise<boolean> | null = null;
  private silentAt = Number.POSITIVE_INFINITY;
  private stopped = false;
  private isConnected = false;

  constructor(private readonly o: VirtualDeviceOptions) {
    this.rand = createPrng(o.seed);
    this.faults = new FaultState(o.faults, this.rand);
    if (this.faults.has('silent')) this.silentAt = Date.now() + 10_000 + this.rand() * 50_000;
  }

  get deviceId(): string {
    return this.o.creds.deviceId;
  }

  get connected(): boolean {
    return this.isConnected;
  }

  /** Connects; with `telemetry` false, windows start only when `startTelemetry` is called (benchmarks start a whole fleet at once). */
  start(telemetry = true): void {
    const { creds, broker, localAddress, timing } = this.o;
    const client = new MqttClient(() => net.createConnection({ host: broker.host, port: broker.port, localAddress }), {
      protocolVersion: 4,
      clientId: creds.deviceId,
      username: creds.deviceId,
      password: creds.deviceSecret,
      clean: true,
      keepalive: timing.keepaliveSeconds,
      connectTimeout: 30_000,
      reconnectPeriod: this.jittered(),
      will: lastWill(creds.deviceId),
    });
    this.client = client;
    client.on('connect', () => this.onConnect(client));
    client.on('close', () => this.onClose());
    client.on('error', () => (this.o.hooks.counters.connectErrors += 1));
    client.on('message', (topic, payload) => this.onMessage(topic, payload));
    if (telemetry) this.startTelemetry();
    if (this.faults.has('flap')) this.scheduleFlap();
    this.firstConnect = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 30_000);
      client.once('connect', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  /** Opens the first window, with a random phase so the fleet does not publish in lockstep. */
  startTelemetry(): void {
    if (this.timer) return;
    this.windowStart = Date.now();
    this.scheduleWindow(this.rand() * this.windowMs());
  }

  /** Resolves when the first connection is up (true) or after 30 s without one (false); connects are paced on it. */
  connectedOnce(): Promise<boolean> {
    return this.firstConnect ?? Promise.resolve(false);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.flapTimer) clearTimeout(this.flapTimer);
    const client = this.client;
    this.client = null;
    if (!client) return;
    if (client.connected) {
      await new Promise<void>((resolve) => {
        const m = this.status('offline');
        client.publish(m.topic, m.payload, m.options, () => resolve());
        setTimeout(resolve, 2_000).unref();
      });
    }
    // a clean end waits for every unacknowledged QoS 1 message; an overloaded broker gets 5 s
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => client.end(true, {}, () => resolve()), 5_000);
      client.end(false, {}, () => {
        clearTimeout(force);
        resolve();
      });
    });
  }

  private onConnect(client: MqttClient): void {
    this.isConnected = true;
    const c = this.o.hooks.counters;
    c.connected += 1;
    c.connects += 1;
    client.options.reconnectPeriod = this.jittered();
    const online = this.status('online');
    client.publish(online.topic, online.payload, online.options);
    client.subscribe(
      {
        [topics.desired(this.deviceId)]: { qos: mqttContract.desired.qos },
        [topics.commands(this.deviceId)]: { qos: mqttContract.commands.qos },
      },
      () => this.report(),
    );
  }

  private onClose(): void {
    if (!this.isConnected) return;
    this.isConnected = false;
    this.o.hooks.counters.connected -= 1;
  }

  private status(state: 'online' | 'offline'): PublishArgs {
    return publishArgs('status', this.deviceId, { state, bootId: this.bootId, at: new Date().toISOString() });
  }

  private jittered(): number {
    const base = this.o.timing.reconnectBaseMs;
    return Math.round(base + this.rand() * 2 * base);
  }

  private windowMs(): number {
    return this.o.timing.telemetryIntervalMs ?? (this.desired ? this.desired.runtime.windowSeconds * 1000 : DEFAULT_WINDOW_MS);
  }

  private scheduleWindow(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.closeWindow();
      this.scheduleWindow(this.windowMs());
    }, delayMs);
  }

  private closeWindow(): void {
    const now = Date.now();
    const c = this.o.hooks.counters;
    const client = this.client;
    if (now >= this.silentAt) return;
    if (!client || !this.isConnected) {
      c.telemetrySkippedOffline += 1;
      return;
    }
    const w = buildWindow({
      deviceId: this.deviceId,
      bootId: this.bootId,
      seq: this.seq,
      startMs: this.windowStart,
      endMs: now,
      profile: this.o.creds.hardwareProfile,
      preset: this.o.creds.preset,
      model: this.active ? { ...this.active, measured: this.o.hooks.measured(this.active.modelVersionId, this.active.variantId) } : null,
      rateHz: this.desired?.runtime.targetRateHz ?? 10,
      slowFactor: this.faults.has('slow') ? this.o.timing.slowFactor : 1,
      faults: this.faults,
      rand: this.rand,
    });
    this.seq += 1;
    this.windowStart = now;
    c.telemetrySent += 1;
    const m = publishArgs('telemetry', this.deviceId, w);
    client.publish(m.topic, m.payload, m.options, (err) => {
      if (err) c.telemetryFailed += 1;
      else {
        c.telemetryAcked += 1;
        this.o.hooks.onTelemetryAcked?.(now, Date.now());
      }
    });
  }

  private report(): void {
    const client = this.client;
    if (!client || !this.isConnected || Date.now() >= this.silentAt) return;
    const r: ReportedState = {
      schema: 1,
      deviceId: this.deviceId,
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
      agentVersion: SIM_AGENT_VERSION,
      reportedAt: new Date().toISOString(),
    };
    this.o.hooks.counters.reportedSent += 1;
    const m = publishArgs('reported', this.deviceId, r);
    client.publish(m.topic, m.payload, m.options);
  }

  private onMessage(topic: string, payload: Buffer): void {
    const m = parseMessage(topic, payload);
    if (m.kind !== 'desired' || !m.ok || m.deviceId !== this.deviceId) return;
    const d = readSimDesired(m.payload);
    if (d?.deviceId !== this.deviceId) return;
    this.o.hooks.counters.desiredReceived += 1;
    this.o.hooks.onDesired?.(this.deviceId, d.assignmentVersion, Date.now());
    this.desired = d;
    void this.reconcile();
  }

  /** Serialised: one update at a time, always towards the latest desired state. */
  private async reconcile(): Promise<void> {
    if (this.updating) return;
    this.updating = true;
    try {
      for (;;) {
        const target = this.desired;
        if (!target) return;
        const decision = decideUpdate(target, this.applied, this.active?.sha256 ?? null);
        if (decision.kind === 'none' || (decision.kind === 'install' && target.assignmentVersion === this.gaveUp)) return;
        if (decision.kind === 'install') await this.install(target.assignmentVersion, decision.model);
        else {
          if (decision.kind === 'clear') this.active = null;
          this.applied = target.assignmentVersion;
          this.phase = this.active ? 'running' : 'idle';
          this.report();
        }
      }
    } finally {
      this.updating = false;
    }
  }

  private async install(version: number, model: SimDesiredModel): Promise<void> {
    const delays = updateDelays(model, this.o.timing.updateTimeScale, this.rand());
    const c = this.o.hooks.counters;
    this.setPhase('downloading');
    await pause(delays.downloadMs);
    if (this.faults.has('failDownload')) {
      c.updatesFailed += 1;
      this.finish(version, {
        outcome: 'failed',
        reasonCode: 'download_failed',
        message: 'simulated: artifact download failed (fault injection)',
      });
      return;
    }
    this.setPhase('verifying');
    await pause(delays.verifyMs);
    this.setPhase('loading');
    await pause(delays.activateMs);
    if (this.faults.has('crashActivation') && this.lastUpdate?.assignmentVersion !== version) {
      c.crashes += 1;
      c.updatesFailed += 1;
      await this.crash();
      this.finish(version, {
        outcome: 'failed',
        reasonCode: 'load_failed',
        message: 'simulated: device crashed during activation; previous model kept',
      });
      return;
    }
    this.active = {
      modelVersionId: model.modelVersionId,
      variantId: model.variantId,
      sha256: model.sha256,
      precision: model.precision,
      sizeBytes: model.sizeBytes,
      measured: null,
    };
    c.updatesOk += 1;
    this.finish(version, { outcome: 'ok' });
  }

  private finish(version: number, o: Pick<UpdateOutcome, 'outcome' | 'reasonCode' | 'message'>): void {
    this.lastUpdate = { assignmentVersion: version, ...o, at: new Date().toISOString() };
    // a failed update keeps the previous model; the watermark moves only on success
    if (o.outcome === 'ok') this.applied = version;
    else this.gaveUp = version;
    this.phase = this.active ? 'running' : o.outcome === 'ok' ? 'idle' : 'failed';
    this.report();
  }

  private setPhase(phase: ReportedState['phase']): void {
    this.phase = phase;
    if (this.o.timing.reportPhases) this.report();
  }

  /** An abrupt crash: the socket dies (the broker publishes the Last Will), the device reboots with a new boot id. */
  private async crash(): Promise<void> {
    this.client?.stream.destroy();
    this.bootId = randomUUID();
    this.seq = 0;
    await pause(2_000 + this.rand() * 3_000);
  }

  private scheduleFlap(): void {
    this.flapTimer = setTimeout(
      () => {
        const client = this.client;
        if (!client || this.stopped) return;
        this.o.hooks.counters.flaps += 1;
        client.options.reconnectPeriod = 2_000 + this.rand() * 8_000;
        client.stream.destroy();
        this.scheduleFlap();
      },
      20_000 + this.rand() * 40_000,
    );
  }
}

const pause = (ms: number): Promise<void> => (ms <= 0 ? Promise.resolve() : new Promise((r) => setTimeout(r, ms)));
