import { z } from 'zod';
import {
  DeviceIdSchema,
  DeviceStatusSchema,
  HardwareProfileSchema,
  ReportedStateSchema,
  ScenarioSchema,
  UpdateOutcomeSchema,
} from '../schemas.js';

/** REST `GET /api/v1/devices` query and tRPC `devices.list` input. */
export const ListDevicesQuerySchema = z
  .strictObject({
    page: z.coerce.number().int().min(1).max(1_000_000).optional().describe('page number (OFFSET paging, for jumping to a page)'),
    after: z
      .string()
      .min(1)
      .max(200)
      .optional()
      .describe("keyset paging: the previous page's nextCursor; stays fast however deep the page"),
    pageSize: z.coerce.number().int().min(1).max(200).default(50),
    scenario: ScenarioSchema.optional(),
    status: DeviceStatusSchema.optional(),
    search: z.string().min(1).max(128).optional().describe('a part of the device name'),
  })
  .refine((q) => q.page === undefined || q.after === undefined, { message: 'give either page or after, not both', path: ['after'] });
export type ListDevicesQuery = z.infer<typeof ListDevicesQuerySchema>;

/** Path parameters of `/api/v1/devices/{id}…`; also tRPC `devices.get` input. */
export const DeviceIdParamsSchema = z.strictObject({ id: DeviceIdSchema });
export type DeviceIdParams = z.infer<typeof DeviceIdParamsSchema>;

/** REST `GET /api/v1/devices/{id}/telemetry` query. */
export const TelemetryQuerySchema = z.strictObject({
  sinceMinutes: z.coerce
    .number()
    .int()
    .min(1)
    .max(10_080)
    .default(15)
    .describe(
      'windows that ended in the last N minutes; over 60 one point per minute (up to 6 h) or per hour, from the rollups, which the worker folds new windows into every TELEMETRY_ROLLUP_FOLD_MS (2 s by default): they may lag the newest windows by that much',
    ),
  limit: z.coerce.number().int().min(1).max(5_000).default(500).describe('at most this many, the newest'),
});
export type TelemetryQuery = z.infer<typeof TelemetryQuerySchema>;

/** tRPC `devices.telemetry` input: the REST path parameter and query in one object. */
export const DeviceTelemetryInputSchema = TelemetryQuerySchema.extend({ id: DeviceIdSchema });
export type DeviceTelemetryInput = z.infer<typeof DeviceTelemetryInputSchema>;

/** One telemetry window as charts read it. */
export const TelemetryPointSchema = z.object({
  windowStart: z.iso.datetime(),
  windowEnd: z.iso.datetime(),
  modelVersionId: z.string().nullable(),
  variantId: z.string().nullable(),
  precision: z.string().nullable(),
  inferences: z.number(),
  errors: z.number(),
  errorRate: z.number(),
  p50: z.number().nullable(),
  p95: z.number().nullable(),
  p99: z.number().nullable(),
  max: z.number().nullable(),
  powerW: z.number(),
  powerSource: z.string(),
  powerDetail: z.string(),
  rssMb: z.number(),
  /** Whose work the figures describe: `traffic` (applications' requests) or `probe` (the synthetic workload). */
  source: z.enum(['traffic', 'probe']),
  /** Traffic windows: median queue wait before the run; null for the probe. */
  queueP50: z.number().nullable(),
  queueP99: z.number().nullable(),
  /** Requests answered from the agent's result cache (not counted in `inferences`). */
  cacheHits: z.number(),
  /**
   * Inference time those hits saved, estimated by the agent from measured runs (the run times of the
   * runs whose answers they reused). Null when the window had no hit or its agent predates the figure,
   * and in points read from the rollups (ranges over an hour), which do not keep it.
   */
  cacheSavedMs: z.number().nullable(),
  /**
   * Hybrid devices: requests forwarded to a cloud node (attempts; not counted in `inferences`), those
   * unanswered, and their round trip. Null in points read from the rollups (ranges over an hour),
   * which do not keep forwarded requests yet: not measured there, not zero.
   */
  remoteInferences: z.number().nullable(),
  remoteErrors: z.number().nullable(),
  remoteP50: z.number().nullable(),
  remoteP99: z.number().nullable(),
});
export type TelemetryPoint = z.infer<typeof TelemetryPointSchema>;

/** REST `GET /api/v1/devices/{id}/telemetry` and tRPC `devices.telemetry` result: windows, oldest first. */
export const DeviceTelemetrySchema = z.object({ deviceId: DeviceIdSchema, points: z.array(TelemetryPointSchema) });
export type DeviceTelemetry = z.infer<typeof DeviceTelemetrySchema>;

/**
 * REST `POST /api/v1/devices/{id}/rotate-secret` and tRPC `devices.rotateSecret` result: the device's
 * new secret, shown this once (only its hash is kept). The old one is refused from now on.
 */
export const DeviceSecretSchema = z.object({
  deviceId: z.string(),
  deviceSecret: z.string().describe('the new secret: install it on the device (the agent reads it at start); never shown again'),
  rotatedAt: z.iso.datetime(),
});
export type DeviceSecret = z.infer<typeof DeviceSecretSchema>;

/** REST `POST /api/v1/enrollment-tokens` result: the token is shown once. */
export const EnrollmentTokenCreatedSchema = z.object({
  id: z.string(),
  token: z.string(),
  scenario: ScenarioSchema,
  maxUses: z.number().int(),
  expiresAt: z.iso.datetime(),
});
export type EnrollmentTokenCreated = z.infer<typeof EnrollmentTokenCreatedSchema>;

/** The agent's stale-metadata alarm (its desired-state manifest expired), as stored from its report. */
export const StaleMetadataSchema = ReportedStateSchema.shape.staleMetadata.unwrap().unwrap();

/** One device as REST returns it: identity, hardware, status and what it last reported. */
export const DeviceSummarySchema = z.object({
  id: z.string(),
  name: z.string(),
  scenario: z.string(),
  status: DeviceStatusSchema,
  labels: z.record(z.string(), z.string()),
  hardwareClass: z.string(),
  accelerator: z.string(),
  hardwareProfile: HardwareProfileSchema,
  enrolledAt: z.iso.datetime(),
  lastSeenAt: z.iso.datetime().nullable(),
  assignmentVersion: z.number().int(),
  reported: z
    .object({
      phase: z.string(),
      activeVariantId: z.string().nullable(),
      appliedAssignmentVersion: z.number().int().nullable(),
      reportedAt: z.iso.datetime(),
      // as stored: the device's message was repaired on the way in, so here it is plain text
      lastUpdate: UpdateOutcomeSchema.extend({ message: z.string().optional() }).nullable(),
      staleMetadata: StaleMetadataSchema.nullable(),
      /** Cloud nodes: the inference address they report, to which hybrid devices are sent; null elsewhere. */
      inferenceUrl: z.string().nullable(),
      /** Where the active model runs and the measured figures that decided it; null: not reported. */
      placement: z.object({ runsOn: z.string(), basis: z.string() }).nullable(),
      /** Fault injection the agent reports (its model slowed on purpose, from `since`); null: off. */
      faultInjection: z.object({ latencyMs: z.number(), since: z.string() }).nullable(),
    })
    .nullable(),
});
export type DeviceSummary = z.infer<typeof DeviceSummarySchema>;

/**
 * A device's clone alarm (RELIABILITY row 13): two clients with its identity were seen at once (its
 * sessions taking each other over, or windows of two boots interleaving). Cleared when the device is
 * enabled again after a revocation.
 */
export const CloneAlarmSchema = z.object({
  suspectedAt: z.iso.datetime(),
  /** The latest evidence, in words. */
  reason: z.string(),
  detections: z.number().int(),
});
export type CloneAlarm = z.infer<typeof CloneAlarmSchema>;

/** REST `GET /api/v1/devices/{id}` result. */
export const DeviceSchema = DeviceSummarySchema.extend({
  /** Telemetry windows dead-lettered because the device sent more than its quota. */
  telemetryOverQuota: z.number().int(),
  /** Null unless two clients with this device's identity were detected. */
  cloneAlarm: CloneAlarmSchema.nullable(),
});
export type Device = z.infer<typeof DeviceSchema>;

/** REST `GET /api/v1/devices` result: one page and how to get the next. */
export const DevicePageSchema = z.object({
  items: z.array(DeviceSummarySchema),
  total: z.number().int(),
  /** When `total` was counted: exact up to 10,000, larger totals are recounted at most every 5 s. */
  totalCountedAt: z.iso.datetime(),
  /** null when the page was asked for by cursor */
  page: z.number().int().nullable(),
  pageSize: z.number().int(),
  nextCursor: z.string().nullable(),
});
export type DevicePage = z.infer<typeof DevicePageSchema>;
