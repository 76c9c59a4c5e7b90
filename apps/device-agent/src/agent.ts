import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import {
  type CommandAck,
  CommandAckSchema,
  CommandSchema,
  type DesiredModel,
  type DeviceBenchmark,
  type RemediationRuntime,
  type DesiredStatePayload,
  defaultPolicy,
  type ReportedState,
  ReportedStateSchema,
  type RuntimeSettings,
  type Scenario,
  SignedDesiredStateSchema,
  signingKeySerial,
  type TelemetryWindow,
} from '@edge-fleet/shared';
import { KeyFloor } from './artifact/key-floor.js';
import { ArtifactDownloader, ArtifactError } from './artifact/artifact.downloader.js';
import { verifyDesiredState } from './artifact/desired-state.verifier.js';
import { authenticateManifest, verifyManifest } from './artifact/manifest.verifier.js';
import { MetadataFreshness } from './artifact/metadata.freshness.js';
import { withTimeout } from './core/async.js';
import { type Clock, systemClock } from './core/clock.js';
import { type CrashPoint, crashNow } from './core/crash-points.js';
import { errorMessage, type Logger } from './core/logger.js';
import { trustedFetch } from './core/tls-trust.js';
import { AGENT_VERSION } from './core/version.js';
import type { EngineFactory, InferenceEngine } from './engine/inference.engine.js';
import { withInjectedLatency } from './engine/injected-latency.engine.js';
import { createChildVetter, type ModelVetter } from './engine/model-vetting.js';
import { ReferenceBenchmark } from './engine/reference-benchmark.js';
import { createWorkerEngine } from './engine/worker-inference.engine.js';
import { DeviceMqttSession, type InboundMessage } from './mqtt/device.mqtt-session.js';
import { DEFAULT_WATCHDOG, ModelWatchdog, type WatchdogConfig, type WatchdogPolicy } from './reconcile/model.watchdog.js';
import { Reconciler } from './reconcile/reconciler.js';
import { LocalInferenceService } from './serve/local-inference.service.js';
import type { ServeConfig } from './serve/serve.settings.js';
import type { BackoffSettings } from './hybrid/cloud.forwarder.js';
import { type ProbeMode, probeGate, TrafficMeter } from './serve/traffic.meter.js';
import { StepExecutor } from './reconcile/step.executor.js';
import { AgentStateStore } from './storage/agent-state.store.js';
import type { StoredCredentials } from './storage/credentials.store.js';
import { LatencyWindow } from './telemetry/latency.window.js';
import { detectPowerMeter } from './telemetry/power.meter.js';
import { DEFAULT_OUTBOX_LIMITS, type OutboxLimits, TelemetryOutbox } from './telemetry/telemetry.outbox.js';
import { TelemetryPublisher } from './telemetry/telemetry.publisher.js';
import { WorkloadGenerator } from './workload/workload.generator.js';

export const DEFAULT_RUNTIME: RuntimeSettings = { targetRateHz: 10, windowSeconds: 10, intraOpThreads: 1 };

export interface AgentOptions {
  dataDir: string;
  credentials: StoredCredentials;
  logger: Logger;
  seed: number;
  /** Overrides the broker URL handed out at enrollment. */
  mqttUrl?: string;
  clock?: Clock;
  createEngine?: EngineFactory;
  /** Vets each candidate before it is loaded for serving; a child process per candidate by default. */
  vetModel?: ModelVetter;
  powerCounters?: readonly string[];
  bootId?: string;
  /** Download stall timeout and overall deadline (ms); 30 s and 10 min by default. */
  download?: { stallTimeoutMs?: number; deadlineMs?: number };
  /** How many windows after an activation are judged, and how many bad ones roll back (3 and 2). */
  watchdog?: WatchdogConfig;
  /** The targets a new model is judged against: overridden here (tests), else those in its desired state, else `defaultPolicy(scenario)`. */
  watchdogPolicy?: (scenario: Scenario) => WatchdogPolicy;
  /** Crash-safety tests: exit with 137 at this point (FLEET_AGENT_CRASH_AT). */
  crashAt?: CrashPoint;
  /** The local inference API (Open Inference Protocol); absent = not served. */
  serve?: ServeConfig;
  /** When the synthetic probe runs: `idle` (default: only while no application sends requests), `always`, `off`. */
  probe?: ProbeMode;
  /** false: skip the reference benchmark at first start (tests that do not look at it). */
  benchmark?: boolean;
  /** Caps of the on-disk telemetry outbox (10 MiB, 24 h by default). */
  outbox?: Partial<OutboxLimits>;
  /**
   * Cloud nodes: the base URL hybrid devices reach this agent's inference API at, reported to the
   * control plane (`--serve-public-url`); by default `http://<serve host>:<bound port>` unless the
   * host is a wildcard address (then nothing is reported and no device is sent here).
   */
  inferenceUrl?: string;
  /** Hybrid devices: how long a failed cloud node is skipped (0.5 s doubling to 30 s by default). */
  forwardBackoff?: BackoffSettings;
  /**
   * Fault injection (`--inject-latency-ms`, `--inject-latency-after-s`; off by default): every run of
   * the model takes `latencyMs` longer from `afterMs` after the agent started. Logged and reported.
   */
  injectLatency?: { latencyMs: number; afterMs: number };
}

/** One device: MQTT presence, desired-state reconcile loop, workload and telemetry. */
export class DeviceAgent {
  readonly bootId: string;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly deviceId: string;
  private readonly session: DeviceMqttSession;
  private readonly generator: WorkloadGenerator;
  private readonly telemetry: TelemetryPublisher;
  private readonly outbox: TelemetryOutbox;
  private readonly latency = new LatencyWindow();
  private readonly watchdog: ModelWatchdog;
  private readonly freshness: MetadataFreshness;
  private executor: StepExecutor | null = null;
  private reconciler: Reconciler | null = null;
  private activeModel: DesiredModel | null = null;
  private readonly referenceBenchmark: ReferenceBenchmark;
  private benchmark: DeviceBenchmark | null = null;
  /** What a remediation caps (M14), and the probe rate that leaves; null: nothing capped. */
  private remediation: { caps: RemediationRuntime; effectiveRateHz: number } | null = null;
  /** Applications' inference requests; null when the agent serves none. */
  readonly inference: LocalInferenceService | null;
  /** The lowest signing-key serial still trusted (raised by each accepted desired state). */
  private readonly keyFloor: KeyFloor;
  /** The engine of the active model: where it runs is reported. */
  private activeEngine: InferenceEngine | null = null;
  /** Fault injection, when on: how much slower every run is, from when (epoch ms). */
  private readonly injection: { latencyMs: number; since: number } | null;

  constructor(private readonly options: AgentOptions) {
    const creds = options.credentials;
    this.bootId = options.bootId ?? randomUUID();
    this.clock = options.clock ?? systemClock;
    this.deviceId = creds.deviceId;
    this.logger = options.logger.child({ deviceId: creds.deviceId, bootId: this.bootId });
    this.watchdog = new ModelWatchdog(options.watchdog ?? DEFAULT_WATCHDOG);
    this.keyFloor = new KeyFloor(options.dataDir, this.logger);
    const traffic = new TrafficMeter(this.clock);
    this.inference =
      options.serve === undefined
        ? null
        : new LocalInferenceService(
            options.serve,
            this.logger,
            (r) => traffic.record(r),
            (savedMs) => traffic.recordCacheHit(savedMs),
            this.clock,
            creds.hardwareProfile.location === 'cloud'
              ? { kind: 'cloud', scenario: creds.scenario, rootPublicKey: creds.rootPublicKey, minKeySerial: () => this.keyFloor.value }
              : {
                  kind: 'device',
                  scenario: creds.scenario,
                  onRemote: (a) => traffic.recordRemote(a),
                  caPem: creds.tls?.caCertificate ?? null,
                  ...(options.forwardBackoff ? { backoff: options.forwardBackoff } : {}),
                },
          );
    const inject = options.injectLatency;
    this.injection = inject && inject.latencyMs > 0 ? { latencyMs: inject.latencyMs, since: this.clock.now() + inject.afterMs } : null;
    this.referenceBenchmark = new ReferenceBenchmark(options.dataDir, () => this.clock.now());
    this.generator = new WorkloadGenerator(this.clock, this.latency, this.logger, DEFAULT_RUNTIME.targetRateHz);
    this.generator.setGate(probeGate(options.probe ?? 'idle', traffic));
    this.outbox = new TelemetryOutbox({
      dir: join(options.dataDir, 'outbox'),
      limits: { ...DEFAULT_OUTBOX_LIMITS, ...options.outbox },
      clock: this.clock,
      logger: this.logger,
      send: (msg) => this.session.publish('telemetry', msg),
      canSend: () => this.session.connected,
      onDropped: () => void this.publishReported(),
    });
    this.telemetry = new TelemetryPublisher({
      clock: this.clock,
      logger: this.logger,
      deviceId: creds.deviceId,
      bootId: this.bootId,
      window: this.latency,
      power: detectPowerMeter(creds.hardwareProfile, creds.profileLabel, options.powerCounters),
      activeModel: () => this.activeModel,
      publish: (msg) => this.outbox.add(msg),
      onWindow: (msg) => this.judgeWindow(msg),
      traffic,
    });
    this.telemetry.setWindowSeconds(DEFAULT_RUNTIME.windowSeconds);
    this.freshness = new MetadataFreshness({
      clock: this.clock,
      logger: this.logger,
      authenticate: (model) => authenticateManifest(model, { rootPublicKey: creds.rootPublicKey, deviceId: creds.deviceId }),
      onChange: () => void this.publishReported(),
    });
    this.session = new DeviceMqttSession({
      url: options.mqttUrl ?? creds.mqtt.url,
      ...(creds.tls ? { caPem: creds.tls.caCertificate } : {}),
      deviceId: creds.deviceId,
      deviceSecret: creds.deviceSecret,
      bootId: this.bootId,
      clock: this.clock,
      logger: this.logger,
      onMessage: (m) => this.onMessage(m),
      onConnected: async () => {
        await this.publishReported();
        this.outbox.kick();
      },
    });
  }

  async start(): Promise<void> {
    const creds = this.options.credentials;
    await this.keyFloor.load();
    const store = new AgentStateStore(this.options.dataDir);
    const downloader = new ArtifactDownloader({
      modelsDir: join(this.options.dataDir, 'models'),
      username: creds.deviceId,
      password: creds.deviceSecret,
      fetch: trustedFetch(creds.tls?.caCertificate ?? null, 'artifact URL'),
      ...this.options.download,
      onProgress: (have, ref) => {
        if (have * 2 >= ref.sizeBytes) this.crashPoint('mid-download');
      },
    });
    const executor = new StepExecutor(
      {
        downloader,
        createEngine: this.engineFactory(),
        vetModel: this.options.vetModel ?? createChildVetter(),
        store,
        clock: this.clock,
        logger: this.logger,
        seed: this.options.seed,
        verifyManifest: (model, assignmentVersion) => {
          const signed = verifyManifest(model, {
            rootPublicKey: creds.rootPublicKey,
            deviceId: creds.deviceId,
            hardwareClass: creds.hardwareProfile.hardwareClass,
            now: new Date(this.clock.now()),
          });
          // the manifest is bound to the instruction it was issued with: an old genuine manifest cannot ride a new number
          if (signed.version !== assignmentVersion)
            throw new ArtifactError(
              'signature_invalid',
              `the manifest was signed for assignment ${signed.version}, not for assignment ${assignmentVersion}`,
            );
        },
        onEngine: (engine, model) => {
          this.activeModel = model;
          this.activeEngine = engine;
          this.generator.setEngine(engine);
          this.inference?.setActive(engine, model, creds.scenario);
        },
        onRuntime: (runtime) => {
          // a remediation's rate cap binds even where the target rate was not lowered with it
          const caps = runtime.remediation ?? null;
          const rateHz = Math.min(runtime.targetRateHz, caps?.maxRateHz ?? Infinity);
          this.generator.setRate(rateHz);
          const duty = caps?.dutyCycle ? { duty: caps.dutyCycle, periodMs: caps.dutyPeriodSeconds * 1_000 } : null;
          this.generator.setDutyCycle(duty);
          // the same caps bind applications' requests, not only the probe
          this.inference?.setCaps(
            caps === null
              ? null
              : {
                  actionId: caps.actionId,
                  ...(caps.maxRateHz === null ? {} : { maxRateHz: caps.maxRateHz }),
                  ...(duty === null || duty.duty >= 1 ? {} : { dutyCycle: duty }),
                },
          );
          const changed = (this.remediation?.caps.actionId ?? null) !== (caps?.actionId ?? null);
          this.remediation = caps ? { caps, effectiveRateHz: rateHz * (caps.dutyCycle ?? 1) } : null;
          if (changed) void this.publishReported();
          this.telemetry.setWindowSeconds(runtime.windowSeconds);
          this.inference?.setResultCache(runtime.resultCache ?? null);
        },
        onChange: () => void this.publishReported(),
        onProbation: (model, scenario, since, health) => {
          // the targets the control plane sent with the model (the operator's policy), else the scenario's default
          const policy = this.options.watchdogPolicy?.(scenario) ?? health ?? defaultPolicy(scenario);
          this.watchdog.arm(model, policy, since);
          this.logger.info('watchdog armed', { sha256: model.sha256, scenario, ...pickPolicy(policy) });
          if (this.options.crashAt === 'serving-on-probation') setTimeout(() => this.crashPoint('serving-on-probation'), 300);
        },
        crashPoint: (point) => this.crashPoint(point),
      },
      await store.load(),
    );
    this.executor = executor;
    this.logger.info('agent starting', { agentVersion: AGENT_VERSION, seed: this.options.seed });
    await executor.restore();
    // Until the retained desired state arrives, the restored model's manifest is the newest metadata held.
    const restored = executor.snapshot().active?.model ?? null;
    if (restored !== null) this.freshness.hold(restored);
    this.reconciler = new Reconciler({
      executor,
      clock: this.clock,
      logger: this.logger,
      onPhase: (phase) => {
        this.logger.info('phase', { phase });
        void this.publishReported();
      },
    });
    // before the first connection, so the first report carries it and no candidate is vetted meanwhile
    this.benchmark = await this.referenceBenchmark.stored();
    if (this.benchmark === null && this.options.benchmark !== false) await this.runBenchmark().catch(() => undefined);
    this.generator.start();
    await this.inference?.start();
    await this.outbox.open();
    this.telemetry.start();
    this.session.start();
  }

  /** The engines models load into: slowed on purpose while fault injection is on (never by default). */
  private engineFactory(): EngineFactory {
    const create = this.options.createEngine ?? createWorkerEngine;
    const injection = this.injection;
    if (injection === null) return create;
    this.logger.warn(
      'FAULT INJECTION ON: every run of the model will take longer on purpose; this device’s figures are not its model’s own',
      {
        latencyMs: injection.latencyMs,
        from: new Date(injection.since).toISOString(),
      },
    );
    let announced = false;
    return withInjectedLatency(create, () => {
      if (this.clock.now() < injection.since) return 0;
      if (!announced) {
        announced = true;
        this.logger.warn('FAULT INJECTION ACTIVE: runs are now slowed', { latencyMs: injection.latencyMs });
      }
      return injection.latencyMs;
    });
  }

  /** Graceful: finish the reconcile step and the in-flight run, flush telemetry, go offline, release engines. */
  async stop(): Promise<void> {
    this.logger.info('agent stopping');
    this.freshness.stop();
    await this.reconciler?.stop();
    await this.inference?.stop();
    await this.generator.stop();
    // the last window goes to the outbox whether or not the broker is there; a backlog gets 2 s to drain
    await this.telemetry.stop(true);
    if (this.session.connected)
      await withTimeout(this.outbox.idle(), 2_000, 'final telemetry flush').catch((err: unknown) =>
        this.logger.warn('telemetry outbox not drained; kept for the next start', {
          error: errorMessage(err),
          pending: this.outbox.pending,
        }),
      );
    this.outbox.stop();
    await this.session.stop();
    await this.executor?.close();
    await this.keyFloor.flushed();
    this.logger.info('agent stopped');
  }

  /** The trusted signing-key serial once it is on disk (tests). */
  async keyFloorFlushed(): Promise<number> {
    await this.keyFloor.flushed();
    return this.keyFloor.value;
  }

  /** Resolves when no reconcile pass is running (tests). */
  async settled(): Promise<void> {
    await this.reconciler?.idle();
  }

  /**
   * Reports carry strictly increasing times within a boot: two reports in one millisecond (the
   * commit's and the phase change's) would otherwise tie, and the control plane, which keeps the
   * newest, could keep the older one.
   */
  private lastReportedAtMs = 0;

  reportedState(): ReportedState {
    const reportedAtMs = Math.max(this.clock.now(), this.lastReportedAtMs + 1);
    this.lastReportedAtMs = reportedAtMs;
    const executor = this.executor;
    const snapshot = executor?.snapshot();
    const active = snapshot?.active?.model ?? null;
    const stale = this.freshness.staleMetadata;
    return ReportedStateSchema.parse({
      schema: 1,
      deviceId: this.deviceId,
      bootId: this.bootId,
      phase: this.reconciler?.currentPhase ?? 'idle',
      appliedAssignmentVersion: executor?.state.watermark ?? null,
      active:
        active === null
          ? null
          : { modelVersionId: active.modelVersionId, variantId: active.variantId, precision: active.precision, sha256: active.sha256 },
      lastUpdate: executor?.state.lastUpdate ?? null,
      agentVersion: AGENT_VERSION,
      reportedAt: new Date(reportedAtMs).toISOString(),
      // While metadata is stale, everything else still states facts: the model runs (phase, active),
      // that assignment was applied and its update went as it went (appliedAssignmentVersion,
      // lastUpdate). Rewriting them would misreport what runs, and the control plane's rollouts would
      // read a failed lastUpdate as a failed update and a lower applied version as one not applied. What the
      // agent can no longer claim is that it knows the newest assignment: that claim is withdrawn by
      // `staleMetadata`. The key is left out rather than sent as null while fresh, so control planes
      // whose strict schema predates it keep accepting every report without an alarm.
      ...(stale === null ? {} : { staleMetadata: stale }),
      // left out until there is something, for control planes whose strict schema predates them
      ...(executor?.state.measured.length ? { measuredLatency: executor.state.measured } : {}),
      ...(this.benchmark === null ? {} : { benchmark: this.benchmark }),
      ...(this.outbox.droppedWindows > 0 ? { telemetryDroppedWindows: this.outbox.droppedWindows } : {}),
      ...(this.remediation === null
        ? {}
        : {
            remediation: {
              actionId: this.remediation.caps.actionId,
              maxRateHz: this.remediation.caps.maxRateHz,
              dutyCycle: this.remediation.caps.dutyCycle,
              effectiveRateHz: this.remediation.effectiveRateHz,
            },
          }),
      ...(this.inferenceUrl() === null ? {} : { inferenceUrl: this.inferenceUrl() }),
      ...placementOf(active === null ? null : this.activeEngine),
      ...(this.injection === null
        ? {}
        : { faultInjection: { latencyMs: this.injection.latencyMs, since: new Date(this.injection.since).toISOString() } }),
    });
  }

  /** A cloud node's advertised inference address (null elsewhere, or while it has none). */
  private inferenceUrl(): string | null {
    if (this.options.credentials.hardwareProfile.location !== 'cloud') return null;
    // no TCP listener (off, or its port in use): nothing to send hybrid devices to
    const port = this.inference?.port ?? null;
    if (port === null) return null;
    if (this.options.inferenceUrl !== undefined) return this.options.inferenceUrl;
    const host = this.options.serve?.host;
    if (host === undefined || host === '0.0.0.0' || host === '::') return null;
    return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  }

  /** Times the reference benchmark (at first start and on the `benchmark` command) and keeps the result. */
  private async runBenchmark(): Promise<DeviceBenchmark> {
    try {
      this.benchmark = await this.referenceBenchmark.run();
      this.logger.info('reference benchmark measured', { ...this.benchmark });
      return this.benchmark;
    } catch (err) {
      this.logger.warn('reference benchmark failed', { error: errorMessage(err) });
      throw err;
    }
  }

  /** Telemetry windows feed the watchdog; it needs no control plane to send the device back. */
  private judgeWindow(window: TelemetryWindow): void {
    const verdict = this.watchdog.observe(window);
    switch (verdict.kind) {
      case 'idle':
      case 'watching':
        return;
      case 'passed':
        this.logger.info('watchdog passed the new model', { variantId: window.variantId });
        void this.executor
          ?.endProbation()
          .catch((err: unknown) => this.logger.warn('probation end not saved', { error: errorMessage(err) }));
        return;
      case 'rollback':
        this.logger.error('watchdog rolls back', { reason: verdict.reason });
        this.reconciler?.rollback(verdict.reason);
        return;
    }
  }

  private crashPoint(point: CrashPoint): void {
    if (this.options.crashAt !== point) return;
    this.logger.error('crash point reached; killing the process', { point });
    crashNow();
  }

  private async publishReported(): Promise<void> {
    if (!this.session.connected) return;
    try {
      await this.session.publish('reported', this.reportedState());
    } catch (err) {
      this.logger.warn('reported state not published', { error: errorMessage(err) });
    }
  }

  private onMessage(m: InboundMessage): void {
    if (m.ok) {
      if (m.kind === 'desired') this.onDesired(m.payload);
      else void this.onCommand(m.payload);
      return;
    }
    switch (m.error.code) {
      case 'cleared':
        return;
      // JSON that fails the contract still goes to its handler, which says why and, for a
      // command with a readable correlation id, answers `bad_command`
      case 'schema':
        if (m.kind === 'desired') this.onDesired(m.error.value);
        else void this.onCommand(m.error.value);
        return;
      case 'bad_json':
        this.logger.warn('ignored non-JSON message', { kind: m.kind });
        return;
      case 'too_large':
      case 'device_mismatch':
      case 'unknown_topic':
        this.logger.warn('ignored message', { kind: m.kind, reason: m.error.reason });
        return;
    }
  }

  /** Only a verified desired state reaches the reconciler; a refused one changes nothing (model, watermark, target). */
  private onDesired(raw: unknown): void {
    const { rootPublicKey } = this.options.credentials;
    let desired: DesiredStatePayload;
    try {
      desired = verifyDesiredState(raw, {
        rootPublicKey,
        deviceId: this.deviceId,
        now: new Date(this.clock.now()),
        minKeySerial: this.keyFloor.value,
        // a newer control plane's setting this agent predates: ignored, the rest applies
        onUnknownRuntimeFields: (fields) =>
          this.logger.debug('desired state: runtime settings this agent does not know, ignored', { fields }),
      });
      this.keyFloor.raise(signingKeySerial(SignedDesiredStateSchema.parse(raw).signingKey));
    } catch (err) {
      // anything the verifier could not vouch for is refused: an MQTT handler must not throw
      this.logger.warn('desired state refused', { reason: errorMessage(err) });
      return;
    }
    this.logger.info('desired state received', { assignmentVersion: desired.assignmentVersion, sha256: desired.model?.sha256 ?? null });
    // a state refused as older than the watermark (a replay) is not held, so it has no say in freshness
    if (this.reconciler?.setTarget(desired) === true) {
      this.freshness.hold(desired.model, desired.assignmentVersion);
      // the cloud nodes and grant of the newest state; re-published states carry fresh grants
      this.inference?.setHybrid(desired.hybrid ?? null);
    }
  }

  private async onCommand(raw: unknown): Promise<void> {
    const parsed = CommandSchema.safeParse(raw);
    if (!parsed.success) {
      const correlationId = CommandAckSchema.shape.correlationId.safeParse((raw as { correlationId?: unknown } | null)?.correlationId);
      this.logger.warn('ignored invalid command');
      if (correlationId.success)
        await this.ack({
          correlationId: correlationId.data,
          status: 'error',
          code: 'bad_command',
          message: 'unknown or malformed command',
        });
      return;
    }
    const { command, correlationId } = parsed.data;
    this.logger.info('command', { command, correlationId });
    switch (command) {
      case 'ping':
        return this.ack({ correlationId, status: 'ok' });
      case 'report-now':
        await this.publishReported();
        return this.ack({ correlationId, status: 'ok' });
      case 'benchmark':
        try {
          await this.runBenchmark();
        } catch (err) {
          return this.ack({ correlationId, status: 'error', code: 'benchmark_failed', message: errorMessage(err).slice(0, 2_000) });
        }
        await this.publishReported();
        return this.ack({ correlationId, status: 'ok' });
    }
  }

  private async ack(ack: CommandAck): Promise<void> {
    try {
      await this.session.publish('commands/ack', ack);
    } catch (err) {
      this.logger.warn('command ack not published', { error: errorMessage(err) });
    }
  }
}

/** Where the active model runs and why, for the report; nothing while no engine says. */
function placementOf(engine: InferenceEngine | null): { placement?: { runsOn: 'inline' | 'worker'; basis: string } } {
  const runsOn = engine?.placement ?? null;
  const basis = engine?.placementBasis?.() ?? null;
  return runsOn === null || basis === null ? {} : { placement: { runsOn, basis: basis.slice(0, 512) } };
}

function pickPolicy(p: WatchdogPolicy): WatchdogPolicy {
  return { latencyTargetMs: p.latencyTargetMs, latencyPercentile: p.latencyPercentile, errorRateMax: p.errorRateMax };
}
