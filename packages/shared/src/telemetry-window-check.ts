import { z } from 'zod';
import { HISTOGRAM_MAX_BUCKETS } from './histogram.js';
import { TelemetryWindowSchema, type TelemetryWindow } from './schemas.js';
import { isStorableText, toStorableText } from './text.js';

/**
 * A hand-written check of a telemetry window, for the ingest's hot path: it accepts exactly what
 * {@link TelemetryWindowSchema} accepts (telemetry-window-check.spec.ts proves it against the
 * schema on generated and mutated windows) at a fraction of zod's cost, and builds nothing new.
 * It only says yes or no: a window it refuses is parsed by the schema, whose issues name the field
 * (refusals are rare, and the schema stays the one statement of the contract). The patterns are
 * zod's own, so a date or id the schema takes, this takes.
 */

const UUID = z.regexes.uuid();
const ISO_DATE = z.regexes.datetime({ offset: true, precision: null, local: false });
const PRECISIONS: ReadonlySet<unknown> = new Set(['fp32', 'fp16', 'int8', 'int4']);
const POWER_SOURCES: ReadonlySet<unknown> = new Set(['sensor', 'estimate', 'simulated']);
const SOURCES: ReadonlySet<unknown> = new Set(['traffic', 'probe']);
const KEYS: ReadonlySet<string> = new Set(Object.keys(TelemetryWindowSchema.shape));

type Obj = Record<string, unknown>;

const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isInt = (v: unknown, max: number): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && v <= max;
const isNonNeg = (v: unknown, max: number): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= max;
const isUuid = (v: unknown): boolean => typeof v === 'string' && v.length === 36 && UUID.test(v);
const isDate = (v: unknown): v is string => typeof v === 'string' && ISO_DATE.test(v);
/** `storableText(64).min(1).nullable()`. */
const isId = (v: unknown): boolean => v === null || (typeof v === 'string' && v.length >= 1 && v.length <= 64 && isStorableText(v));

/** Only the keys in `allowed` (a strict object). */
function onlyKeys(o: Obj, allowed: readonly string[]): boolean {
  for (const k in o) if (!allowed.includes(k)) return false;
  return true;
}

const PERCENTILES = ['p50', 'p95', 'p99', 'max'] as const;
/** `{ p50, p95, p99, max }` of milliseconds, strict. */
function isPercentiles(v: unknown): boolean {
  if (!isObject(v) || !onlyKeys(v, PERCENTILES)) return false;
  return isNonNeg(v.p50, 3_600_000) && isNonNeg(v.p95, 3_600_000) && isNonNeg(v.p99, 3_600_000) && isNonNeg(v.max, 3_600_000);
}

/** The histogram's bucket count, or -1 when it is not a valid sparse histogram. */
function histogramCount(v: unknown): number {
  if (!Array.isArray(v) || v.length > HISTOGRAM_MAX_BUCKETS) return -1;
  let total = 0;
  let last = -1;
  for (const b of v as unknown[]) {
    if (!Array.isArray(b) || b.length !== 2) return -1;
    const [i, c] = b as unknown[];
    if (!isInt(i, HISTOGRAM_MAX_BUCKETS - 1) || !isInt(c, 1e9) || c < 1 || i <= last) return -1;
    last = i;
    total += c;
  }
  return total;
}

const REMOTE_KEYS = ['inferences', 'errors', 'latencyMs', 'bytesSent', 'bytesReceived'] as const;
function isRemote(v: unknown): boolean {
  if (v === undefined || v === null) return true;
  if (!isObject(v) || !onlyKeys(v, REMOTE_KEYS)) return false;
  if (!isInt(v.inferences, 1e9) || !isInt(v.errors, 1e9) || v.errors > v.inferences) return false;
  if (v.latencyMs !== null && !isPercentiles(v.latencyMs)) return false;
  return (v.bytesSent === undefined || isInt(v.bytesSent, 1e12)) && (v.bytesReceived === undefined || isInt(v.bytesReceived, 1e12));
}

/**
 * The JSON value as a telemetry window when {@link TelemetryWindowSchema} accepts it, else null.
 * What the schema's output adds is done in place (only once the window is accepted): the defaults
 * of `cacheHits`, `fallbacks` and `source`, and `power.detail` with unstorable characters replaced.
 */
export function checkTelemetryWindow(v: unknown): TelemetryWindow | null {
  if (!isObject(v)) return null;
  for (const k in v) if (!KEYS.has(k)) return null;
  if (v.schema !== 1 || !isUuid(v.deviceId) || !isUuid(v.bootId)) return null;
  if (!isInt(v.seq, Number.MAX_SAFE_INTEGER) || !isDate(v.windowStart) || !isDate(v.windowEnd)) return null;
  if (!isId(v.modelVersionId) || !isId(v.variantId) || !(v.precision === null || PRECISIONS.has(v.precision))) return null;
  if (!isInt(v.inferences, 1e9) || !isInt(v.errors, 1e9)) return null;
  if (v.latencyMs !== null && !isPercentiles(v.latencyMs)) return null;
  const power = v.power;
  if (!isObject(power) || !onlyKeys(power, ['watts', 'source', 'detail'])) return null;
  if (!isNonNeg(power.watts, 10_000) || !POWER_SOURCES.has(power.source)) return null;
  if (typeof power.detail !== 'string' || power.detail.length > 256) return null;
  const memory = v.memory;
  if (!isObject(memory) || !onlyKeys(memory, ['rssMb', 'heapUsedMb'])) return null;
  if (!isNonNeg(memory.rssMb, 1e7) || !isNonNeg(memory.heapUsedMb, 1e7)) return null;
  const cacheHits = v.cacheHits === undefined ? 0 : v.cacheHits;
  if (!isInt(cacheHits, 1e9)) return null;
  if (v.cacheSavedMs !== undefined && !isNonNeg(v.cacheSavedMs, 1e12)) return null;
  if (v.fallbacks !== undefined && !isInt(v.fallbacks, 1e9)) return null;
  if (v.source !== undefined && !SOURCES.has(v.source)) return null;
  if (v.queueMs !== undefined && v.queueMs !== null && !isPercentiles(v.queueMs)) return null;
  const histogram = v.latencyHistogram === undefined || v.latencyHistogram === null ? 0 : histogramCount(v.latencyHistogram);
  if (histogram < 0 || !isRemote(v.remote)) return null;
  // the schema's refinements
  if (Date.parse(v.windowEnd) < Date.parse(v.windowStart) || v.errors > v.inferences) return null;
  if (cacheHits === 0 && v.cacheSavedMs !== undefined && v.cacheSavedMs !== 0) return null;
  if (histogram > v.inferences) return null;
  // accepted: the schema's output
  v.cacheHits = cacheHits;
  v.fallbacks ??= 0;
  v.source ??= 'probe';
  if (!isStorableText(power.detail)) power.detail = toStorableText(power.detail);
  return v as unknown as TelemetryWindow;
}
