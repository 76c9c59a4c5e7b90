import { TelemetryWindowSchema, type TelemetryWindow } from '@edge-fleet/shared';
import { issuesText, parseJson } from '../infra/validate.js';

const MAX_PAYLOAD_BYTES = 64 * 1024;

/** The bounds of a believable window, from configuration. */
export interface TimeLimits {
  beforeEnrollmentMs: number;
  futureSkewMs: number;
  maxWindowMs: number;
}

/** Parses one telemetry message of the device that owns `topicDeviceId`; a string is the reason it is refused. */
export function parseWindow(topicDeviceId: string, payload: Buffer): TelemetryWindow | string {
  if (payload.length > MAX_PAYLOAD_BYTES) return `payload of ${payload.length} bytes exceeds ${MAX_PAYLOAD_BYTES}`;
  const json = parseJson(payload);
  if (json === undefined) return 'payload is not valid JSON';
  const r = TelemetryWindowSchema.safeParse(json);
  if (!r.success) return `schema: ${issuesText(r.error.issues, 5)}`;
  if (r.data.deviceId !== topicDeviceId) return 'deviceId in payload does not match the topic';
  return r.data;
}

/**
 * Why a window's timestamps cannot be true, or null. Before enrollment (minus a margin for clock
 * drift) catches devices whose clock reset to 1970 and year-0/1 dates that Postgres cannot even
 * store; the future bound catches a device clock running ahead.
 */
export function timestampProblem(w: TelemetryWindow, enrolledAt: Date, now: number, limits: TimeLimits): string | null {
  const start = Date.parse(w.windowStart);
  const end = Date.parse(w.windowEnd);
  const earliest = enrolledAt.getTime() - limits.beforeEnrollmentMs;
  if (start < earliest)
    return `windowStart ${w.windowStart} is before the device's enrollment (${enrolledAt.toISOString()}) minus ${limits.beforeEnrollmentMs / 1000} s`;
  if (end > now + limits.futureSkewMs) return `windowEnd ${w.windowEnd} is in the future (more than ${limits.futureSkewMs / 1000} s ahead)`;
  if (end - start > limits.maxWindowMs) return `window spans ${(end - start) / 1000} s, more than ${limits.maxWindowMs / 1000} s`;
  return null;
}
