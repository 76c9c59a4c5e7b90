import { defaultPolicy, type Scenario } from '@edge-fleet/shared';

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
  /** Result cache entries; 0 or absent = off (always off for models with state inputs). */
  cacheEntries?: number;
  /** How long a cached answer is served (60 s by default). */
  cacheTtlMs?: number;
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
