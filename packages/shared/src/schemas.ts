import { SparseHistogramSchema } from './histogram.js';
import { z } from 'zod';
import { INT4_MAX, repairedText, storableText } from './text.js';

/** Numeric precisions a model variant can be stored and run in. */
export const PrecisionSchema = z.enum(['fp32', 'fp16', 'int8', 'int4']);
export type Precision = z.infer<typeof PrecisionSchema>;

/** The six scenarios of the default policy set (SPEC.md). */
export const ScenarioSchema = z.enum([
  'financial_trading',
  'autonomous_driving',
  'customer_support_agent',
  'robotic_manipulation',
  'content_generation_agent',
  'data_analysis_agent',
]);
export type Scenario = z.infer<typeof ScenarioSchema>;

export const TierSchema = z.enum(['high', 'medium', 'low']);
export type Tier = z.infer<typeof TierSchema>;

export const LocationSchema = z.enum(['edge', 'hybrid', 'cloud']);
export type Location = z.infer<typeof LocationSchema>;

export const DeviceStatusSchema = z.enum(['pending', 'online', 'offline', 'revoked']);
export type DeviceStatus = z.infer<typeof DeviceStatusSchema>;

/** Device ids are UUIDs: topic-safe, never `#`, `+` or `/`. */
export const DeviceIdSchema = z.uuid();

const finite = z.number().refine(Number.isFinite, 'must be a finite number');
const nonNeg = finite.refine((n) => n >= 0, 'must be >= 0');
const isoDate = z.iso.datetime({ offset: true });

/** A cloud node's inference base URL: http(s), a host, an optional port, no credentials, no query. */
export const InferenceUrlSchema = z
  .url({ protocol: /^https?$/ })
  .max(512)
  .refine((u) => {
    // zod runs this refinement on a string that failed the URL check too
    const url = URL.canParse(u) ? new URL(u) : null;
    return url !== null && url.username === '' && url.password === '' && url.search === '' && url.hash === '';
  }, 'an inference URL carries no credentials, query or fragment');

/** What a device's hardware can do; decides which variant it may run. */
export const HardwareProfileSchema = z.strictObject({
  name: z.string().min(1).max(64),
  hardwareClass: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'lower-case letters, digits, ".", "_" or "-"'),
  accelerator: z.enum(['cpu', 'gpu', 'npu', 'dsa']),
  tops: nonNeg.max(10_000),
  sramMb: nonNeg.max(1_024),
  dramMb: nonNeg.max(4_194_304),
  powerBudgetW: nonNeg.max(10_000),
  idlePowerW: nonNeg.max(10_000),
  activePowerW: nonNeg.max(10_000),
  precisions: z.array(PrecisionSchema).min(1).max(4),
  cpuCores: z.int().min(1).max(1024),
  /**
   * `cloud`: a cloud node, an agent that serves its scenario's model on a network address to the
   * fleet's hybrid devices (README "Hybrid placement"). Absent: an edge device.
   */
  location: z.enum(['edge', 'cloud']).optional(),
});
export type HardwareProfile = z.infer<typeof HardwareProfileSchema>;

export const TensorDtypeSchema = z.enum(['float32', 'int64', 'int32', 'bool', 'uint8', 'int8']);
export type TensorDtype = z.infer<typeof TensorDtypeSchema>;

/**
 * How to feed one model input. `shape` has every dynamic dimension fixed.
 * `stateFrom` names an output whose value is fed back on the next run (recurrent state).
 */
export const InputSpecSchema = z.strictObject({
  name: z.string().min(1).max(256),
  dtype: TensorDtypeSchema,
  shape: z.array(z.int().min(1).max(1_000_000)).max(8),
  min: finite.optional(),
  max: finite.optional(),
  stateFrom: z.string().min(1).max(256).optional(),
});
export type InputSpec = z.infer<typeof InputSpecSchema>;

export const InputSpecListSchema = z
  .array(InputSpecSchema)
  .min(1)
  .max(64)
  .refine((l) => new Set(l.map((i) => i.name)).size === l.length, 'input names must be unique')
  .refine((l) => l.every((i) => i.shape.reduce((a, b) => a * b, 1) <= 16_777_216), 'an input may have at most 16,777,216 elements');

/** The tier targets of the device's scenario policy: its smoke test and watchdog judge a new model by them. */
export const HealthTargetsSchema = z.strictObject({
  latencyTargetMs: z.number().positive().max(3_600_000),
  latencyPercentile: z.enum(['p50', 'p95', 'p99']),
  errorRateMax: z.number().min(0).max(1),
});
export type HealthTargets = z.infer<typeof HealthTargetsSchema>;

/**
 * What an automated remediation (M14) asks of this device on top of its model: an inference-rate
 * cap (the probe and the local inference API together) and a low-power duty cycle (the device works
 * `dutyCycle` of every `dutyPeriodSeconds` and idles the rest). The control plane also lowers
 * `targetRateHz` to the cap, so an agent that predates this field still runs the reduced rate.
 */
export const RemediationRuntimeSchema = z.strictObject({
  /** The remediation action that set these caps (its audit trail explains them). */
  actionId: z.uuid(),
  /** Most inferences per second; null: no cap. */
  maxRateHz: finite.min(0.01).max(10_000).nullable(),
  /** Share of each period the device works, in (0, 1]; null: always on. */
  dutyCycle: z.number().min(0.05).max(1).nullable(),
  dutyPeriodSeconds: z.int().min(1).max(3_600),
});
export type RemediationRuntime = z.infer<typeof RemediationRuntimeSchema>;

/**
 * The result cache of a scenario's policy (README "Result cache"): how many answers the agent keeps
 * and for how long. `entries: 0` is off, the default; models with state inputs are never cached.
 */
export const ResultCacheSettingsSchema = z.strictObject({
  entries: z.int().min(0).max(100_000),
  ttlMs: z.int().min(1_000).max(86_400_000),
});
export type ResultCacheSettings = z.infer<typeof ResultCacheSettingsSchema>;

/** Off: what a scenario's policy says until an operator turns the cache on. */
export const RESULT_CACHE_OFF: ResultCacheSettings = Object.freeze({ entries: 0, ttlMs: 60_000 });

/**
 * What the control plane tells an agent about how to run. Fields are only ever added as optional
 * ones an agent may ignore: agents strip runtime fields they do not know (with a debug log), so a
 * newer control plane never bricks an older agent.
 */
export const RuntimeSettingsSchema = z.strictObject({
  /** Inferences per second the workload generator drives. */
  targetRateHz: finite.min(0.1).max(10_000),
  windowSeconds: z.int().min(1).max(3_600),
  intraOpThreads: z.int().min(1).max(64),
  /** Absent from older control planes: the agent then falls back to the default policy of its scenario. */
  health: HealthTargetsSchema.optional(),
  /** Absent unless a remediation caps this device (M14). */
  remediation: RemediationRuntimeSchema.optional(),
  /** The scenario policy's result cache; absent from older control planes (the agent's own flags then decide). */
  resultCache: ResultCacheSettingsSchema.optional(),
});
export type RuntimeSettings = z.infer<typeof RuntimeSettingsSchema>;

const base64Of = (maxChars: number) =>
  z
    .string()
    .regex(/^[A-Za-z0-9+/]+={0,2}$/, 'must be base64')
    .max(maxChars);
const base64 = base64Of(8_192);

/** What a signed manifest says about one artifact for one device (TUF-shaped, minimal). */
export const ManifestPayloadSchema = z.strictObject({
  schema: z.literal(1),
  deviceId: DeviceIdSchema,
  modelVersionId: z.string().min(1),
  variantId: z.string().min(1),
  precision: PrecisionSchema,
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  sizeBytes: z.int().min(1),
  /** Monotonically increasing per device: the assignment version it was issued for. */
  version: z.int().min(1),
  /** Hardware classes the artifact is meant for. */
  hardwareClasses: z.array(z.string().max(64)).max(64),
  issuedAt: isoDate,
  expiresAt: isoDate,
});
export type ManifestPayload = z.infer<typeof ManifestPayloadSchema>;

/** The control plane's online signing key, certified by the root key the device received at enrollment. */
export const SigningKeyCertSchema = z.strictObject({
  /** base64 of the DER (SPKI) Ed25519 public key. */
  publicKey: base64,
  expiresAt: isoDate,
  /**
   * Which signing key this is: each rotation certifies the next serial, and a device that has
   * accepted a state signed under serial N refuses every key below N (TUF's version rule: rotating
   * revokes the keys before). Absent on certificates from before rotation existed: serial 1.
   */
  serial: z.int().min(1).max(1_000_000_000).optional(),
  /** Root signature over `signingKeyCertMessage(cert)`. */
  rootSignature: base64,
});
export type SigningKeyCert = z.infer<typeof SigningKeyCertSchema>;

/** What the root key signs (as UTF-8) to certify a signing key: its key, its expiry and (when given) its serial. */
export function signingKeyCertMessage(cert: Pick<SigningKeyCert, 'publicKey' | 'expiresAt' | 'serial'>): string {
  return cert.serial === undefined ? `${cert.publicKey}.${cert.expiresAt}` : `${cert.publicKey}.${cert.expiresAt}.${cert.serial}`;
}

/** A certificate's serial (1 for one from before rotation existed). */
export function signingKeySerial(cert: Pick<SigningKeyCert, 'serial'>): number {
  return cert.serial ?? 1;
}

/**
 * A manifest signed with Ed25519 by the control plane's online signing key, whose public key is
 * in turn certified by the root key the device received at enrollment.
 */
export const SignedManifestSchema = z.strictObject({
  /** base64 of the manifest payload's JSON bytes: the exact bytes that were signed. */
  payload: base64,
  signature: base64,
  signingKey: SigningKeyCertSchema,
});
export type SignedManifest = z.infer<typeof SignedManifestSchema>;

export const DesiredModelSchema = z.strictObject({
  modelId: z.string().min(1),
  modelVersionId: z.string().min(1),
  variantId: z.string().min(1),
  name: z.string().min(1),
  version: z.string().min(1),
  precision: PrecisionSchema,
  artifactUrl: z.url(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  sizeBytes: z.int().min(1),
  inputs: InputSpecListSchema,
  manifest: SignedManifestSchema,
});
export type DesiredModel = z.infer<typeof DesiredModelSchema>;

/** Full desired state of one device: retained, QoS 1, never a diff. */
export const DesiredStateSchema = z.strictObject({
  schema: z.literal(1),
  deviceId: DeviceIdSchema,
  assignmentVersion: z.int().min(0),
  issuedAt: isoDate,
  scenario: ScenarioSchema,
  /** Why this device runs this model (or nothing), in words. */
  reason: z.string().max(2_000),
  model: DesiredModelSchema.nullable(),
  runtime: RuntimeSettingsSchema,
});
export type DesiredState = z.infer<typeof DesiredStateSchema>;

/**
 * What a hybrid device shows a cloud node to be served (README "Hybrid placement"): issued to one
 * device for one scenario, short-lived, signed by the control plane's signing key like manifests
 * and desired states, so a cloud node checks it with the root key it got at enrollment.
 */
export const ForwardingGrantPayloadSchema = z.strictObject({
  schema: z.literal(1),
  kind: z.literal('oip-forward'),
  scenario: ScenarioSchema,
  /** The hybrid device it was issued to. */
  deviceId: DeviceIdSchema,
  issuedAt: isoDate,
  expiresAt: isoDate,
});
export type ForwardingGrantPayload = z.infer<typeof ForwardingGrantPayloadSchema>;

/** A forwarding grant as signed: base64 of the payload's JSON bytes, the signature, the certified signing key. */
export const SignedForwardingGrantSchema = z.strictObject({
  payload: base64Of(4_096),
  signature: base64,
  signingKey: SigningKeyCertSchema,
});
export type SignedForwardingGrant = z.infer<typeof SignedForwardingGrantSchema>;

/** A cloud node serving the device's scenario, as the control plane knows it from the node's reports. */
export const CloudNodeRefSchema = z.strictObject({
  deviceId: DeviceIdSchema,
  url: InferenceUrlSchema,
});
export type CloudNodeRef = z.infer<typeof CloudNodeRefSchema>;

/**
 * Hybrid placement, in the signed desired state of a device whose scenario's policy location is
 * `hybrid` or `cloud` (and that is no cloud node itself): where to forward, with what, and when.
 * Minted at every publication and never stored: the grant is re-issued (the state re-published)
 * before it expires.
 */
export const HybridPlacementSchema = z.strictObject({
  /** Cloud nodes of the scenario, tried in order; empty while none reports an address. */
  nodes: z.array(CloudNodeRefSchema).max(16),
  grant: SignedForwardingGrantSchema,
  /**
   * Forward also when the local model's latency (queue wait included) would break the tier's
   * latency target; off by default (README: HYBRID_FORWARD_ON_LATENCY).
   */
  forwardOnLatency: z.boolean(),
  /** The tier's latency target the rule above compares with, ms. */
  latencyTargetMs: z.number().positive().max(3_600_000),
});
export type HybridPlacement = z.infer<typeof HybridPlacementSchema>;

/**
 * What the control plane signs when it publishes a desired state: the whole state (model or none,
 * runtime settings, assignment number, device), when it was signed and until when it may be
 * acted on, and the device's assignment high-water mark at signing time. An agent takes no number
 * above that mark, so no message can raise its watermark beyond what the control plane issued.
 */
export const DesiredStatePayloadSchema = DesiredStateSchema.extend({
  /** The highest assignment number the control plane had issued to this device when it signed. */
  highWaterMark: z.int().min(0),
  signedAt: isoDate,
  expiresAt: isoDate,
  /** Hybrid devices only: the cloud nodes of their scenario and a grant for them (absent elsewhere and from older control planes). */
  hybrid: HybridPlacementSchema.optional(),
});
export type DesiredStatePayload = z.infer<typeof DesiredStatePayloadSchema>;

/**
 * The message on `fleet/v1/devices/{id}/desired`: a desired state signed as a whole with Ed25519.
 * The signed JSON travels as base64 of its exact bytes, so there is nothing to canonicalise; the
 * device reads the state only from those bytes, after the signature checks out.
 */
export const SignedDesiredStateSchema = z.strictObject({
  /** base64 of a DesiredStatePayload's JSON bytes. */
  payload: base64Of(262_144),
  signature: base64,
  signingKey: SigningKeyCertSchema,
});
export type SignedDesiredState = z.infer<typeof SignedDesiredStateSchema>;

export const UpdateOutcomeSchema = z.strictObject({
  assignmentVersion: z.int().min(0).max(INT4_MAX),
  outcome: z.enum(['ok', 'failed']),
  reasonCode: z
    .enum([
      'download_failed',
      'size_mismatch',
      'hash_mismatch',
      'signature_invalid',
      'hardware_mismatch',
      'load_failed',
      'smoke_failed',
      'watchdog_failed',
    ])
    .optional(),
  message: repairedText(2_000).optional(),
  at: isoDate,
});
export type UpdateOutcome = z.infer<typeof UpdateOutcomeSchema>;

export const ActiveModelSchema = z.strictObject({
  modelVersionId: storableText(64).min(1),
  variantId: storableText(64).min(1),
  precision: PrecisionSchema,
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
});
export type ActiveModel = z.infer<typeof ActiveModelSchema>;

export const AgentPhaseSchema = z.enum(['idle', 'downloading', 'verifying', 'loading', 'running', 'failed']);
export type AgentPhase = z.infer<typeof AgentPhaseSchema>;

/** Milliseconds a device may report as a measurement: finite, non-negative, at most an hour. */
const measuredMs = nonNeg.max(3_600_000);

/**
 * A candidate variant's latency as the device itself measured it in its smoke runs (warm-up run
 * excluded), with the execution provider that ran it: the first basis of a latency prediction.
 */
export const MeasuredLatencySchema = z.strictObject({
  variantId: storableText(64).min(1),
  p50: measuredMs,
  p95: measuredMs,
  p99: measuredMs,
  runs: z.int().min(1).max(10_000),
  executionProvider: storableText(32).min(1),
  measuredAt: isoDate,
});
export type MeasuredLatency = z.infer<typeof MeasuredLatencySchema>;

/**
 * The device's reference benchmark: the fixed model `model` (generated by onnx-builder, the same one
 * the variant builder times on its machine), timed on the device, and the execution providers
 * onnxruntime offers there. The control plane turns it into a speed factor against the builder.
 */
export const DeviceBenchmarkSchema = z.strictObject({
  model: storableText(64).min(1),
  p50Ms: measuredMs.refine((n) => n > 0, 'must be > 0'),
  runs: z.int().min(1).max(10_000),
  executionProviders: z.array(storableText(32).min(1)).max(16),
  measuredAt: isoDate,
});
export type DeviceBenchmark = z.infer<typeof DeviceBenchmarkSchema>;

/** What the device actually runs. */
export const ReportedStateSchema = z.strictObject({
  schema: z.literal(1),
  deviceId: DeviceIdSchema,
  bootId: z.uuid(),
  phase: AgentPhaseSchema,
  appliedAssignmentVersion: z.int().min(0).max(INT4_MAX).nullable(),
  active: ActiveModelSchema.nullable(),
  lastUpdate: UpdateOutcomeSchema.nullable(),
  agentVersion: storableText(64),
  reportedAt: isoDate,
  /**
   * Stale-metadata alarm: the newest desired state the agent holds is past its metadata expiry (a
   * frozen or replayed desired state), so the agent cannot vouch that it is up to date. It keeps
   * running its model. Absent or null: not stale (absent from older agents).
   */
  staleMetadata: z
    .strictObject({
      /** The assignment whose metadata expired. */
      assignmentVersion: z.int().min(0).max(INT4_MAX),
      /** When it expired: the earlier of the manifest's and its signing key's expiry. */
      expiresAt: isoDate,
      /** When the agent noticed. */
      detectedAt: isoDate,
    })
    .nullable()
    .optional(),
  /** The latest variants this device measured, newest first (absent from older agents). */
  measuredLatency: z.array(MeasuredLatencySchema).max(8).optional(),
  /** The reference benchmark, once run (absent from older agents and before it ran). */
  benchmark: DeviceBenchmarkSchema.optional(),
  /**
   * Telemetry windows the agent's outbox dropped, oldest first, past its size or age cap while the
   * broker was unreachable: a running total over the life of its data directory, so the windows
   * stored for the device are those it produced minus this. Absent from older agents and while
   * nothing was dropped.
   */
  telemetryDroppedWindows: z.int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  /**
   * The remediation caps the agent applies now (M14): the action that set them, the rate cap and
   * duty cycle, and the probe rate they leave. Absent from older agents and while nothing is capped.
   */
  remediation: z
    .strictObject({
      actionId: storableText(64).min(1),
      maxRateHz: finite.min(0).max(10_000).nullable(),
      dutyCycle: z.number().min(0).max(1).nullable(),
      effectiveRateHz: finite.min(0).max(10_000),
    })
    .optional(),
  /**
   * Cloud nodes only: the address at which hybrid devices reach its Open Inference Protocol
   * endpoint (an `http(s)://host:port` base URL). The control plane names it in the desired state
   * of its scenario's hybrid devices. Absent from edge devices and older agents.
   */
  inferenceUrl: InferenceUrlSchema.optional(),
  /**
   * Where the active model runs (`inline` on the agent's main thread or in its inference `worker`)
   * and the measured figures that decided it. Absent from older agents and while nothing is loaded.
   */
  placement: z.strictObject({ runsOn: z.enum(['inline', 'worker']), basis: repairedText(512) }).optional(),
  /**
   * Fault injection is on (a test or demo slows the local model on purpose: `--inject-latency-ms`):
   * every run takes `latencyMs` longer from `since` (which may lie ahead), so from then on this
   * device's figures are not its model's own. Absent while off and from older agents.
   */
  faultInjection: z.strictObject({ latencyMs: z.int().min(1).max(60_000), since: isoDate }).optional(),
});
export type ReportedState = z.infer<typeof ReportedStateSchema>;

/**
 * A reported state as the control plane stores and shows it: the active model's ids are UUIDs,
 * because the control plane issued them (whether the rows exist is checked at ingest). The agent
 * builds its report with ReportedStateSchema, whose ids are any bounded text, so agents driven by
 * test fixtures with readable ids keep working.
 */
export const StoredReportedStateSchema = ReportedStateSchema.extend({
  active: ActiveModelSchema.extend({ modelVersionId: z.uuid(), variantId: z.uuid() }).nullable(),
});

export const PowerSourceSchema = z.enum(['sensor', 'estimate', 'simulated']);
export type PowerSource = z.infer<typeof PowerSourceSchema>;

const latencyMs = nonNeg.max(3_600_000);

/** One telemetry window summary; idempotent on (deviceId, bootId, seq). */
/**
 * `traffic`: applications' requests through the agent's local inference API; `probe`: the synthetic
 * workload, run where configured or while a device has no traffic.
 */
export const TelemetrySourceSchema = z.enum(['traffic', 'probe']);
export type TelemetrySource = z.infer<typeof TelemetrySourceSchema>;

export const TelemetryWindowSchema = z
  .strictObject({
    schema: z.literal(1),
    deviceId: DeviceIdSchema,
    bootId: z.uuid(),
    seq: z.int().min(0).max(Number.MAX_SAFE_INTEGER),
    windowStart: isoDate,
    windowEnd: isoDate,
    modelVersionId: storableText(64).min(1).nullable(),
    variantId: storableText(64).min(1).nullable(),
    precision: PrecisionSchema.nullable(),
    inferences: z.int().min(0).max(1e9),
    errors: z.int().min(0).max(1e9),
    latencyMs: z.strictObject({ p50: latencyMs, p95: latencyMs, p99: latencyMs, max: latencyMs }).nullable(),
    power: z.strictObject({
      watts: nonNeg.max(10_000),
      source: PowerSourceSchema,
      /** Where the figure came from: the sensor path or the estimate's basis. */
      detail: repairedText(256),
    }),
    memory: z.strictObject({ rssMb: nonNeg.max(1e7), heapUsedMb: nonNeg.max(1e7) }),
    cacheHits: z.int().min(0).max(1e9).default(0),
    /**
     * Estimated inference time the window's cache hits saved: the sum of the measured run times of
     * the runs whose answers they reused. Absent from agents that predate it and while nothing hit.
     */
    cacheSavedMs: nonNeg.max(1e12).optional(),
    fallbacks: z.int().min(0).max(1e9).default(0),
    /** Whose work the figures describe; windows from agents that predate the field were all the probe's. */
    source: TelemetrySourceSchema.default('probe'),
    /** Traffic windows: how long requests waited in the agent's queue (`latencyMs` is the run alone). */
    queueMs: z.strictObject({ p50: latencyMs, p95: latencyMs, p99: latencyMs, max: latencyMs }).nullable().optional(),
    /**
     * Every timed inference of the window in a mergeable log-linear histogram (histogram.ts): gates
     * merge them across windows and devices. Absent from agents that predate it, whose p50/p95/p99
     * are then all there is (approximate: percentiles of percentiles once merged).
     */
    latencyHistogram: SparseHistogramSchema.nullable().optional(),
    /**
     * Hybrid devices: the requests of the window that were forwarded to a cloud node (its counts
     * are apart from `inferences`, which are the device's own runs; `latencyMs` stays local).
     * `errors`: forwarded requests that got no answer (node down, refused, timed out);
     * `latencyMs`: the round trip of those answered. Absent from agents that forward nothing.
     */
    remote: z
      .strictObject({
        inferences: z.int().min(0).max(1e9),
        errors: z.int().min(0).max(1e9),
        latencyMs: z.strictObject({ p50: latencyMs, p95: latencyMs, p99: latencyMs, max: latencyMs }).nullable(),
        /** Request bodies sent to cloud nodes (every attempt) and answer bodies received, in bytes: the traffic hybrid placement costs. */
        bytesSent: z.int().min(0).max(1e12).optional(),
        bytesReceived: z.int().min(0).max(1e12).optional(),
      })
      .refine((r) => r.errors <= r.inferences, { message: 'remote errors exceed remote inferences', path: ['errors'] })
      .nullable()
      .optional(),
  })
  .refine((w) => Date.parse(w.windowEnd) >= Date.parse(w.windowStart), {
    message: 'windowEnd must not be before windowStart',
    path: ['windowEnd'],
  })
  .refine((w) => w.errors <= w.inferences, { message: 'errors exceed inferences', path: ['errors'] })
  .refine((w) => w.cacheHits > 0 || (w.cacheSavedMs ?? 0) === 0, {
    message: 'cache time saved without a cache hit',
    path: ['cacheSavedMs'],
  })
  .refine((w) => (w.latencyHistogram ?? []).reduce((s, [, c]) => s + c, 0) <= w.inferences, {
    message: 'the latency histogram counts more inferences than the window has',
    path: ['latencyHistogram'],
  });
export type TelemetryWindow = z.infer<typeof TelemetryWindowSchema>;

/** Presence, retained; the Last Will publishes `offline`. */
export const StatusMessageSchema = z.strictObject({
  state: z.enum(['online', 'offline']),
  bootId: z.uuid().optional(),
  at: isoDate.optional(),
});
export type StatusMessage = z.infer<typeof StatusMessageSchema>;

export const CommandSchema = z.strictObject({
  correlationId: z.uuid(),
  /** `benchmark`: re-run the reference benchmark and report it (acked when done). */
  command: z.enum(['ping', 'report-now', 'benchmark']),
});
export type Command = z.infer<typeof CommandSchema>;

export const CommandAckSchema = z.strictObject({
  correlationId: z.uuid(),
  status: z.enum(['ok', 'error']),
  code: z.string().max(64).optional(),
  message: z.string().max(2_000).optional(),
});
export type CommandAck = z.infer<typeof CommandAckSchema>;

export const EnrollRequestSchema = z.strictObject({
  token: z.string().min(16).max(256),
  name: z.string().min(1).max(128).optional(),
  hardwareProfile: HardwareProfileSchema,
  /**
   * The device's own id for this enrollment, the same on every try of it (the agent keeps it on disk
   * until it has its credentials). A try whose answer was lost is repeated with the same token and
   * id: the control plane answers with the same device and a new secret, using no further use of the
   * token, as long as that device has never connected. Without it every try is a new enrollment.
   */
  requestId: z.uuid().optional(),
});
export type EnrollRequest = z.infer<typeof EnrollRequestSchema>;

export const EnrollResponseSchema = z.strictObject({
  deviceId: DeviceIdSchema,
  deviceSecret: z.string().min(32),
  scenario: ScenarioSchema,
  /** The trust anchor: base64 DER (SPKI) of the root Ed25519 public key that certifies signing keys. */
  rootPublicKey: base64,
  mqtt: z.strictObject({ url: z.string().min(1), username: z.string(), clientId: z.string() }),
  /**
   * With TLS on at the control plane: the CA certificate (PEM) the device then trusts, and nothing
   * else, for the API over HTTPS and the broker over mqtts; and the API's HTTPS base URL.
   */
  tls: z
    .strictObject({
      caCertificate: z
        .string()
        .max(65_536)
        .regex(/^-----BEGIN CERTIFICATE-----/, 'a PEM certificate'),
      apiUrl: z.url({ protocol: /^https$/ }),
    })
    .optional(),
});
export type EnrollResponse = z.infer<typeof EnrollResponseSchema>;

export const CreateEnrollmentTokenSchema = z.strictObject({
  scenario: ScenarioSchema,
  /** How many devices may enroll with it (bulk tokens); 1 by default. */
  maxUses: z.int().min(1).max(100_000).default(1),
  ttlSeconds: z.int().min(60).max(31_536_000).default(86_400),
  labels: z.record(z.string().max(64), z.string().max(256)).default({}),
});
export type CreateEnrollmentToken = z.infer<typeof CreateEnrollmentTokenSchema>;

export const ModelUploadMetaSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'letters, digits, ".", "_" or "-"'),
  version: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9.+_-]{0,63}$/, 'letters, digits, ".", "+", "_" or "-"'),
  inputs: InputSpecListSchema,
});
export type ModelUploadMeta = z.infer<typeof ModelUploadMetaSchema>;

/** How a variant was produced from the FP32 model. */
export const VariantMethodSchema = z.enum(['fp32', 'fp16', 'int8-static-qdq', 'int8-dynamic', 'int4-matmulnbits']);
export type VariantMethod = z.infer<typeof VariantMethodSchema>;

export const VariantStatusSchema = z.enum(['building', 'ready', 'not_applicable', 'failed', 'unusable']);
export type VariantStatus = z.infer<typeof VariantStatusSchema>;

/** What the variant builder measured of one variant on the reference machine (never assumed). */
export const VariantMeasurementSchema = z.strictObject({
  /** The reference machine: CPU model and intra-op threads. */
  machine: z.string().max(256),
  threads: z.int().min(1),
  sizeBytes: z.int().min(1),
  loadMs: nonNeg,
  /** p95 is null where the builder did not record it. */
  latencyMs: z.strictObject({ p50: nonNeg, p95: nonNeg.nullable(), p99: nonNeg }),
  runs: z.int().min(1),
  /** Agreement with FP32 on held-out inputs; null for the FP32 baseline itself. */
  agreement: z.strictObject({ maxAbsError: nonNeg, cosine: finite, top1: finite.nullable(), samples: z.int().min(1) }).nullable(),
  /** Where calibration/evaluation inputs came from. */
  inputs: z.strictObject({ source: z.enum(['generated', 'uploaded']), seed: z.int().nullable() }),
  /**
   * Set on variants built from an opset upgrade of the uploaded model (whose FP32 file is served
   * unchanged): the upgraded model's largest output difference from the uploaded one on the
   * held-out inputs, checked before any variant was built.
   */
  opsetUpgrade: z
    .strictObject({ fromOpset: z.int().min(1), toOpset: z.int().min(1), maxAbsError: nonNeg, samples: z.int().min(1) })
    .optional(),
  /**
   * The reference benchmark timed on the same machine in the same build: a device that ran the same
   * benchmark has a measured speed factor against this machine (absent from older builds).
   */
  referenceBenchmark: z.strictObject({ model: z.string().max(64), p50Ms: nonNeg, runs: z.int().min(1) }).optional(),
});
export type VariantMeasurement = z.infer<typeof VariantMeasurementSchema>;
