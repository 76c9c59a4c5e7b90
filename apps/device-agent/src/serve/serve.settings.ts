import { defaultPolicy, type ResultCacheSettings, type Scenario } from '@edge-fleet/shared';

/** The local inference API's settings (README: "Local inference API"). */
export interface ServeConfig {
  /** Unix socket (mode 0660); null = none. */
  socketPath: string | null;
  host: string;
  /** TCP port; null = no TCP listener, 0 = any free port (tests). */
  port: number | null;
  /** Required on TCP when set; mandatory for any host other than loopback. */
  token: string | null;
  maxBodyBytes: number;
  /** Requests waiting per model beyond those running; one more is answered 429 with Retry-After. */
  queueDepth: number;
  /** Per-request deadline; null = from the tier's latency budget (serveDeadlineMs). */
  deadlineMs: number | null;
  /**
   * The device's own limit on the result cache (`--serve-cache-entries`): caps the entries the
   * scenario's policy asks for, and is the size itself while no policy setting has arrived (no desired
   * state yet, or a control plane that predates the setting). 0 = never cache; absent = no cap.
   */
  cacheEntries?: number;
  /** Likewise for how long a cached answer is served (`--serve-cache-ttl-ms`; 60 s when nothing sets it). */
  cacheTtlMs?: number;
}

/**
 * The result cache the agent runs: the policy's (null: none sent) capped by the device's own flags;
 * null = off. The policy decides whether the cache is on, the device how much memory it may take.
 * Models with state inputs are never cached, whatever this says (OipHandler).
 */
export function effectiveResultCache(
  policy: ResultCacheSettings | null,
  local: Pick<ServeConfig, 'cacheEntries' | 'cacheTtlMs'>,
): ResultCacheSettings | null {
  const entries = policy === null ? (local.cacheEntries ?? 0) : Math.min(policy.entries, local.cacheEntries ?? Infinity);
  const ttlMs = policy === null ? (local.cacheTtlMs ?? DEFAULT_CACHE_TTL_MS) : Math.min(policy.ttlMs, local.cacheTtlMs ?? Infinity);
  return entries > 0 ? { entries, ttlMs } : null;
}

export const DEFAULT_CACHE_TTL_MS = 60_000;

export const DEFAULT_SERVE_PORT = 8701;
export const DEFAULT_SOCKET_NAME = 'inference.sock';
/** A 1×3×640×640 FP32 image is 4.9 MB binary and ~40 MB as JSON numbers. */
export const DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024;
export const DEFAULT_QUEUE_DEPTH = 64;

/**
 * The tier's latency target is what a good answer takes; ten times it (never under a second) is
 * when an answer is no longer worth waiting for, even on a busy device.
 */
export function serveDeadlineMs(config: Pick<ServeConfig, 'deadlineMs'>, scenario: Scenario): number {
  return config.deadlineMs ?? Math.max(1_000, 10 * defaultPolicy(scenario).latencyTargetMs);
}
