import { availableParallelism, hostname } from 'node:os';
import path from 'node:path';
import { z } from 'zod';

const port = z.coerce.number().int().min(1).max(65_535);

/** Every setting the control plane reads; parsed once at start (the only reader of process.env). */
export const ConfigSchema = z.object({
  HOST: z.string().default('127.0.0.1'),
  PORT: port.default(8080),
  /** The worker process's own GET /metrics (it serves no API); 0 picks a free port. */
  WORKER_METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9464),
  DATABASE_URL: z.string().url().default('postgresql://postgres@127.0.0.1:5432/edge_fleet'),
  REDIS_URL: z.string().url().default('redis://127.0.0.1:6379'),
  /** External broker; unset means the embedded aedes broker. */
  MQTT_URL: z.string().url().optional(),
  MQTT_USERNAME: z.string().optional(),
  MQTT_PASSWORD: z.string().optional(),
  /**
   * External broker: the ingest's client id, fixed per replica and unique among them (its session is
   * persistent: what it has not acknowledged is sent to it again after a crash). Default: from the host name.
   */
  MQTT_CLIENT_ID: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,64}$/, 'MQTT_CLIENT_ID: 1-64 letters, digits, dots, dashes or underscores')
    .optional(),
  /**
   * External broker only: `dynsec` provisions every device on Mosquitto's dynamic-security plugin
   * (MQTT_USERNAME/MQTT_PASSWORD are its admin); `none` provisions nothing (the broker's ACLs are
   * managed elsewhere; an anonymous broker lets any client forge any device).
   */
  MQTT_PROVISIONING: z.enum(['dynsec', 'none']).default('dynsec'),
  /** External broker: how long a publish (a desired state) waits for its PUBACK before the connection is replaced and the publish retried. */
  MQTT_PUBACK_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(10_000),
  MQTT_EMBEDDED_HOST: z.string().default('127.0.0.1'),
  MQTT_EMBEDDED_PORT: port.default(1884),
  /**
   * External broker only (the control plane sees no connections there): a device last heard from
   * (status or telemetry) longer ago than this is shown offline, whatever `online` it sent.
   */
  PRESENCE_STALE_SECONDS: z.coerce.number().int().min(2).max(86_400).default(60),
  /**
   * Embedded broker (RELIABILITY row 13): a device identity whose sessions take each other over more
   * than CLONE_TAKEOVERS times within CLONE_WINDOW_SECONDS is a clone: its alarm is raised and every
   * CONNECT of it is refused for CLONE_HOLDOFF_SECONDS, doubled per repeat (up to 64×).
   */
  CLONE_TAKEOVERS: z.coerce.number().int().min(1).max(1_000).default(3),
  CLONE_WINDOW_SECONDS: z.coerce.number().int().min(1).max(86_400).default(60),
  CLONE_HOLDOFF_SECONDS: z.coerce.number().int().min(1).max(86_400).default(30),
  /** Largest MQTT packet an authenticated device may send to the embedded broker (before authentication: 8 KiB). */
  MQTT_MAX_PACKET_KB: z.coerce.number().int().min(16).max(262_144).default(256),
  /** Base URL devices use for artifact downloads. */
  PUBLIC_URL: z.string().url().optional(),
  /** Broker URL handed to devices at enrollment. */
  MQTT_PUBLIC_URL: z.string().url().optional(),
  DATA_DIR: z.string().default('.data'),
  /** The root and signing keys; every replica of one fleet must read the same keys (a shared mount). */
  SIGNING_KEYS_DIR: z.string().min(1).optional(),
  /**
   * Threads that sign desired states and manifests in batches (a fan-out signs two per device);
   * 0 signs on the event loop. Default: one fewer than the machine's cores (at least 1, at most 4).
   */
  SIGNING_WORKERS: z.coerce
    .number()
    .int()
    .min(0)
    .max(64)
    .default(Math.max(1, Math.min(4, availableParallelism() - 1))),
  /**
   * Devices per transaction of a scenario assignment: each chunk commits (its devices, their audit)
   * and is published at once, before the next is written.
   */
  ASSIGNMENT_CHUNK_SIZE: z.coerce.number().int().min(1).max(100_000).default(500),
  /**
   * An assignment publishes its states itself once they are committed, and queues, delayed by this
   * long, a job that publishes any of them still not published then (the process stopped part way).
   * At most 10 minutes: the marks that tell published from not last 15 (PUBLISHED_MARK_TTL_MS).
   */
  PUBLISH_FALLBACK_SECONDS: z.coerce.number().min(1).max(600).default(30),
  MAX_UPLOAD_MB: z.coerce.number().int().min(1).max(4_096).default(256),
  /** Start an embedded Postgres when DATABASE_URL does not answer. */
  EMBEDDED_POSTGRES: z.enum(['auto', 'never']).default('auto'),
  EMBEDDED_POSTGRES_PORT: port.default(54329),
  /** Start redis-server from PATH when REDIS_URL does not answer. */
  START_REDIS: z.enum(['auto', 'never']).default('auto'),
  QUEUE_PREFIX: z
    .string()
    .regex(/^[a-z0-9_-]+$/)
    .default('edge-fleet'),
  /** Inference rate and telemetry window handed to devices in their desired state. */
  DEVICE_RATE_HZ: z.coerce.number().min(0.1).max(1_000).default(10),
  TELEMETRY_WINDOW_SECONDS: z.coerce.number().int().min(1).max(3_600).default(5),
  /** How long a signed model manifest stays valid; devices raise a stale-metadata alarm past it. */
  MANIFEST_TTL_SECONDS: z.coerce
    .number()
    .int()
    .min(10)
    .max(366 * 86_400)
    .default(30 * 86_400),
  /** Desired states are re-issued with fresh manifests this long before they expire. */
  MANIFEST_REFRESH_AHEAD_SECONDS: z.coerce
    .number()
    .int()
    .min(1)
    .max(365 * 86_400)
    .default(7 * 86_400),
  /** How often the worker's job scheduler looks for manifests to refresh (one job per interval for all workers). */
  MANIFEST_REFRESH_INTERVAL_MS: z.coerce.number().int().min(100).max(86_400_000).default(3_600_000),
  /** How often the worker's job scheduler checks that every running rollout has its next step queued (recovery after a crash). */
  ROLLOUT_SWEEP_MS: z.coerce.number().int().min(100).max(600_000).default(5_000),
  /** Build FP16/INT8/INT4 variants of each uploaded model in a background job. */
  VARIANT_BUILD: z.enum(['on', 'off']).default('on'),
  /** Timed runs per variant when the builder measures latency. */
  VARIANT_BENCH_RUNS: z.coerce.number().int().min(5).max(100_000).default(200),
  TELEMETRY_FLUSH_MS: z.coerce.number().int().min(5).max(10_000).default(100),
  /** Telemetry windows held for their commit at most; beyond it a new window is refused unacknowledged (the device sends it again). */
  TELEMETRY_BUFFER_MAX: z.coerce.number().int().min(1).max(5_000_000).default(200_000),
  /** Windows that start more than this before their device's enrollment are refused (clock reset, year-0 dates). */
  TELEMETRY_PRE_ENROLL_SECONDS: z.coerce
    .number()
    .int()
    .min(0)
    .max(3_650 * 86_400)
    .default(86_400),
  /** Windows (and reports) dated more than this after the control plane's clock are refused. */
  TELEMETRY_FUTURE_SKEW_SECONDS: z.coerce.number().int().min(0).max(86_400).default(300),
  /** The longest a window may span (windowEnd - windowStart). */
  TELEMETRY_MAX_WINDOW_SECONDS: z.coerce.number().int().min(1).max(86_400).default(3_600),
  /** Per-device quota: how many windows per expected window a device may send for one period (of max(60 s, the window length)). */
  TELEMETRY_QUOTA_SLACK: z.coerce.number().min(1).max(1_000).default(2),
  /** Raw windows and 1-minute rollups are kept this long (whole days: a day's partition is dropped at once). */
  TELEMETRY_RETENTION_DAYS: z.coerce.number().int().min(1).max(3_650).default(30),
  /** 1-hour rollups are kept this long; at least TELEMETRY_RETENTION_DAYS (checked below). */
  TELEMETRY_ROLLUP_RETENTION_DAYS: z.coerce.number().int().min(1).max(36_500).default(400),
  /**
   * Where the rollups are kept: `fold` (the worker adds committed windows every
   * TELEMETRY_ROLLUP_FOLD_MS, so rollup reads may lag by that much) or `ingest` (in the windows'
   * own transaction: never behind, at more ingest CPU per window; see README Performance).
   */
  TELEMETRY_ROLLUPS: z.enum(['fold', 'ingest']).default('fold'),
  /** How often the worker folds newly stored windows into the rollups (TELEMETRY_ROLLUPS=fold). */
  TELEMETRY_ROLLUP_FOLD_MS: z.coerce.number().int().min(100).max(60_000).default(2_000),
  /** /readyz reports the ingest as not committing when a window has waited this long for its commit. */
  TELEMETRY_STALL_SECONDS: z.coerce.number().min(0.1).max(3_600).default(30),
  /** The worker does not migrate: it waits this long for the api (or main) to have applied every migration it knows. */
  SCHEMA_WAIT_SECONDS: z.coerce.number().int().min(0).max(3_600).default(120),
  /**
   * Hybrid placement: how long a forwarding grant (a hybrid device's pass to its scenario's cloud
   * nodes) stays valid. The worker re-publishes hybrid devices' desired states with fresh grants every
   * third of it, so a device holds a valid one while the control plane is up, and a leaked one soon dies.
   */
  HYBRID_GRANT_TTL_SECONDS: z.coerce.number().int().min(30).max(86_400).default(900),
  /**
   * Hybrid devices also forward a request when their local queue and run time say it would break the
   * tier's latency target (besides model not ready and queue full, which always forward). Off by default.
   */
  HYBRID_FORWARD_ON_LATENCY: z.enum(['on', 'off']).default('off'),
  /** How often the worker evaluates the alert rules over the stored windows (one pass per interval for all workers); 0: never. */
  ALERT_EVAL_INTERVAL_MS: z.coerce.number().int().min(0).max(3_600_000).default(10_000),
  /** Addresses (CIDRs, comma-separated) webhooks may reach although internal (loopback, private, link-local); empty: none. */
  WEBHOOK_ALLOWED_CIDRS: z.string().default(''),
  /** How long a webhook receiver has to answer one delivery. */
  WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(5_000),
  /** Attempts per notification and receiver, the first included; retries back off exponentially from WEBHOOK_BACKOFF_MS. */
  WEBHOOK_ATTEMPTS: z.coerce.number().int().min(1).max(50).default(6),
  WEBHOOK_BACKOFF_MS: z.coerce.number().int().min(10).max(3_600_000).default(2_000),
  /** Electricity price per kWh for the energy report's cost figures; unset: costs are null (no constant stands in). */
  ENERGY_TARIFF_PER_KWH: z.preprocess((v) => (v === '' ? undefined : v), z.coerce.number().finite().min(0).max(1_000).optional()),
  /** The tariff's currency (ISO 4217 code). */
  ENERGY_CURRENCY: z
    .string()
    .regex(/^[A-Z]{3}$/, 'ENERGY_CURRENCY must be a three-letter ISO 4217 code such as EUR')
    .default('EUR'),
  /**
   * Operator API (REST and tRPC) requests per second per operator token, per device (artifact
   * downloads), or per address for requests without a credential; bursts of RATE_LIMIT_BURST. Counted
   * in Redis, so shared by every api replica. 0: no limit.
   */
  RATE_LIMIT_PER_SECOND: z.coerce.number().min(0).max(1_000_000).default(20),
  RATE_LIMIT_BURST: z.coerce.number().int().min(1).max(1_000_000).default(200),
  /** Enrollment requests per second per address, bursts of RATE_LIMIT_ENROLL_BURST (a provisioning line enrolls many devices from one address). 0: no limit. */
  RATE_LIMIT_ENROLL_PER_SECOND: z.coerce.number().min(0).max(1_000_000).default(50),
  RATE_LIMIT_ENROLL_BURST: z.coerce.number().int().min(1).max(1_000_000).default(1_000),
  /** Failed credentials (operator token, enrollment token, device secret) from one address (or for one device) within LOCKOUT_WINDOW_SECONDS that lock it out. */
  LOCKOUT_FAILURES: z.coerce.number().int().min(1).max(1_000_000).default(10),
  LOCKOUT_WINDOW_SECONDS: z.coerce.number().int().min(1).max(86_400).default(600),
  /** How long a lockout lasts: every request with that kind of credential from the address is answered 429 with Retry-After. */
  LOCKOUT_SECONDS: z.coerce.number().int().min(1).max(86_400).default(900),
  /** How long a dashboard session lasts after sign-in; signing out, or revoking or rotating its token, ends it sooner. */
  OPERATOR_SESSION_HOURS: z.coerce.number().min(0.01).max(720).default(12),
  /**
   * How long a replica trusts an operator credential it has checked without asking Postgres again
   * (0: every request asks). Revoking, rotating and signing out through any replica end it at once on
   * every replica; only a change made behind the API's back (SQL by hand) waits this long.
   */
  OPERATOR_AUTH_CACHE_MS: z.coerce.number().int().min(0).max(60_000).default(2_000),
  /**
   * Express's `trust proxy`: whose X-Forwarded-For names the client address the limits count.
   * Default `loopback` (a proxy or the dashboard on this machine); a list of addresses/CIDRs, or `false`.
   */
  TRUST_PROXY: z.string().min(1).default('loopback'),
  /**
   * TLS (README "TLS"): `on` serves the HTTP API over HTTPS only and the embedded broker over mqtts
   * on MQTT_EMBEDDED_TLS_PORT, with TLS_CERT_FILE/TLS_KEY_FILE/TLS_CA_FILE or, without them, a CA and
   * server certificate generated once into DATA_DIR/tls. Enrollment hands devices the CA to pin.
   */
  TLS: z.enum(['off', 'on']).default('off'),
  /** The server certificate (PEM, may carry its chain) and its private key; both or neither. */
  TLS_CERT_FILE: z.string().min(1).optional(),
  TLS_KEY_FILE: z.string().min(1).optional(),
  /** The CA certificate (PEM) devices pin; required with TLS_CERT_FILE. */
  TLS_CA_FILE: z.string().min(1).optional(),
  /** Extra DNS names or IP addresses (comma-separated) for the generated server certificate. */
  TLS_HOSTNAMES: z.string().default(''),
  MQTT_EMBEDDED_TLS_PORT: port.default(8883),
  /**
   * With TLS=on: how often (seconds) the certificate and key are re-read; a changed, valid pair is
   * served to new connections without a restart (SIGHUP re-reads at once). 0: on SIGHUP only.
   */
  TLS_RELOAD_CHECK_SECONDS: z.coerce.number().int().min(0).max(86_400).default(60),
  /** With TLS=on, also keep the embedded broker's plain listener (MQTT_EMBEDDED_PORT) open: a migration aid, off by default. */
  TLS_PLAIN_MQTT: z.enum(['off', 'on']).default('off'),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
});

export type RawConfig = z.infer<typeof ConfigSchema>;

export interface Config extends RawConfig {
  dataDir: string;
  signingKeysDir: string;
  publicUrl: string;
  mqttPublicUrl: string;
  /** The URL the control plane's own MQTT client connects to. */
  mqttUrl: string;
  /** The ingest's client id on an external broker (MQTT_CLIENT_ID or from the host name). */
  mqttClientId: string;
  embeddedBroker: boolean;
  /** TLS=on: where its certificate comes from, and the names a generated server certificate covers. */
  tls: TlsSettings | null;
}

export interface TlsSettings {
  /** The operator's files, or null: a CA and server certificate generated into `dir`. */
  files: { cert: string; key: string; ca: string } | null;
  dir: string;
  /** DNS names and IP addresses the generated server certificate is valid for. */
  hostnames: string[];
}

/** Parses the environment; a bad value stops the process with a message naming the variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = ConfigSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new Error(`invalid configuration:\n${lines.join('\n')}`);
  }
  return deriveConfig(parsed.data);
}

export function deriveConfig(raw: RawConfig): Config {
  if (raw.MQTT_URL !== undefined && raw.MQTT_PROVISIONING === 'dynsec' && (!raw.MQTT_USERNAME || !raw.MQTT_PASSWORD))
    throw new Error(
      'invalid configuration:\n  MQTT_USERNAME, MQTT_PASSWORD: required with MQTT_URL, as the dynamic-security admin the control plane provisions devices with (or set MQTT_PROVISIONING=none)',
    );
  if (raw.TELEMETRY_ROLLUP_RETENTION_DAYS < raw.TELEMETRY_RETENTION_DAYS)
    throw new Error(
      `invalid configuration:\n  TELEMETRY_ROLLUP_RETENTION_DAYS: ${raw.TELEMETRY_ROLLUP_RETENTION_DAYS} is shorter than TELEMETRY_RETENTION_DAYS (${raw.TELEMETRY_RETENTION_DAYS}): hourly rollups must outlive the raw windows`,
    );
  const tls = tlsSettings(raw);
  const embeddedUrl = `mqtt://${raw.MQTT_EMBEDDED_HOST}:${raw.MQTT_EMBEDDED_PORT}`;
  // devices are sent to the TLS listener once there is one
  const deviceEmbeddedUrl = tls ? `mqtts://${raw.MQTT_EMBEDDED_HOST}:${raw.MQTT_EMBEDDED_TLS_PORT}` : embeddedUrl;
  return {
    ...raw,
    dataDir: path.resolve(raw.DATA_DIR),
    signingKeysDir: path.resolve(raw.SIGNING_KEYS_DIR ?? path.join(raw.DATA_DIR, 'keys')),
    publicUrl: (raw.PUBLIC_URL ?? `${tls ? 'https' : 'http'}://${raw.HOST}:${raw.PORT}`).replace(/\/$/, ''),
    mqttPublicUrl: raw.MQTT_PUBLIC_URL ?? raw.MQTT_URL ?? deviceEmbeddedUrl,
    mqttUrl: raw.MQTT_URL ?? embeddedUrl,
    mqttClientId: raw.MQTT_CLIENT_ID ?? `edge-fleet-cp-${hostname().replace(/[^A-Za-z0-9._-]/g, '-')}`.slice(0, 64),
    embeddedBroker: raw.MQTT_URL === undefined,
    tls,
  };
}

/** Addresses a server listens on but nobody connects to: never a name in a certificate. */
const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '[::]', '']);

function tlsSettings(raw: RawConfig): TlsSettings | null {
  const files = [raw.TLS_CERT_FILE, raw.TLS_KEY_FILE, raw.TLS_CA_FILE];
  if (raw.TLS === 'off') {
    if (files.some((f) => f !== undefined))
      throw new Error(
        'invalid configuration:\n  TLS: TLS_CERT_FILE, TLS_KEY_FILE or TLS_CA_FILE is set but TLS=off; set TLS=on to serve TLS',
      );
    return null;
  }
  const [cert, key, ca] = files;
  if ((cert === undefined) !== (key === undefined))
    throw new Error('invalid configuration:\n  TLS_CERT_FILE, TLS_KEY_FILE: give both (the certificate and its private key) or neither');
  if (cert !== undefined && ca === undefined)
    throw new Error('invalid configuration:\n  TLS_CA_FILE: required with TLS_CERT_FILE (the CA certificate devices pin)');
  if (cert === undefined && ca !== undefined)
    throw new Error('invalid configuration:\n  TLS_CA_FILE: only with TLS_CERT_FILE and TLS_KEY_FILE (without them a CA is generated)');
  if (raw.PUBLIC_URL !== undefined && !raw.PUBLIC_URL.startsWith('https://'))
    throw new Error('invalid configuration:\n  PUBLIC_URL: must be an https:// URL with TLS=on (the API serves HTTPS only)');
  const fromUrls = [raw.PUBLIC_URL, raw.MQTT_PUBLIC_URL].flatMap((u) =>
    u === undefined ? [] : [new URL(u).hostname.replace(/^\[|\]$/g, '')],
  );
  const names = [
    'localhost',
    '127.0.0.1',
    '::1',
    hostname(),
    raw.HOST,
    raw.MQTT_EMBEDDED_HOST,
    ...fromUrls,
    ...raw.TLS_HOSTNAMES.split(','),
  ].map((n) => n.trim().toLowerCase());
  return {
    files: cert !== undefined && key !== undefined && ca !== undefined ? { cert, key, ca } : null,
    dir: path.resolve(raw.DATA_DIR, 'tls'),
    hostnames: [...new Set(names.filter((n) => !WILDCARD_HOSTS.has(n)))],
  };
}
