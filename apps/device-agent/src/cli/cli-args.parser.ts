import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  HARDWARE_PRESETS,
  type HardwareProfile,
  HardwareProfileSchema,
  hardwarePreset,
  InferenceUrlSchema,
  isHardwarePreset,
} from '@edge-fleet/shared';
import { z } from 'zod';
import { CrashPointSchema } from '../core/crash-points.js';
import { LogLevelSchema } from '../core/logger.js';
import { isLoopback } from '../serve/oip.http-server.js';
import {
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_QUEUE_DEPTH,
  DEFAULT_SERVE_PORT,
  DEFAULT_SOCKET_NAME,
  type ServeConfig,
} from '../serve/serve.settings.js';

export const CliArgsSchema = z
  .strictObject({
    url: z.url({ protocol: /^https?$/, error: '--url must be an http(s) URL of the control plane' }),
    dataDir: z.string().min(1, '--data-dir is required'),
    token: z.string().min(16, '--token looks too short (at least 16 characters)').max(256).optional(),
    profile: z.string().min(1).optional(),
    name: z.string().min(1).max(128).optional(),
    /** The CA (PEM) an https control plane is verified against at enrollment (no trust on first use). */
    caFile: z.string().min(1, '--ca-file must name a file').optional(),
    /** Tries of an enrollment that got no answer or a transient refusal (0: until it succeeds). */
    enrollAttempts: z.coerce
      .number({ error: '--enroll-attempts must be a whole number' })
      .int('--enroll-attempts must be a whole number')
      .min(0, '--enroll-attempts must be 0 (no limit) or more')
      .max(1_000_000)
      .default(0),
    mqttUrl: z
      .string()
      .regex(/^(mqtts?|wss?|tcp|ssl):\/\/[^\s]+$/, '--mqtt-url must look like mqtt://host:port')
      .optional(),
    logLevel: LogLevelSchema.default('info'),
    seed: z.coerce
      .number()
      .int()
      .min(0)
      .max(2 ** 32 - 1)
      .optional(),
    downloadStallTimeoutS: z.coerce
      .number({ error: '--download-stall-timeout must be a number of seconds' })
      .positive('--download-stall-timeout must be > 0 seconds')
      .max(3_600)
      .default(30),
    downloadDeadlineS: z.coerce
      .number({ error: '--download-deadline must be a number of seconds' })
      .positive('--download-deadline must be > 0 seconds')
      .max(86_400)
      .default(600),
    watchdogWindows: z.coerce.number().int().min(1, '--watchdog-windows must be at least 1').max(1_000).default(3),
    watchdogBreaches: z.coerce.number().int().min(1, '--watchdog-breaches must be at least 1').max(1_000).default(2),
    /** Local inference API: socket path (default <data-dir>/inference.sock) or "off". */
    serveSocket: z.string().min(1).max(100, '--serve-socket: a Unix socket path has at most 100 characters').optional(),
    /** TCP port or "off". */
    servePort: z
      .union([z.literal('off'), z.coerce.number().int().min(0).max(65_535)], {
        error: '--serve-port must be a port number (0-65535) or "off"',
      })
      .default(DEFAULT_SERVE_PORT),
    serveHost: z.string().min(1).max(255).default('127.0.0.1'),
    serveTokenFile: z.string().min(1).optional(),
    /** Cloud nodes: the base URL hybrid devices reach this agent at (reported to the control plane). */
    servePublicUrl: InferenceUrlSchema.optional(),
    serveQueue: z.coerce.number().int().min(1, '--serve-queue must be at least 1').max(100_000).default(DEFAULT_QUEUE_DEPTH),
    serveDeadlineMs: z.coerce.number().int().min(1, '--serve-deadline-ms must be at least 1').max(3_600_000).optional(),
    serveMaxBodyMb: z.coerce
      .number()
      .positive('--serve-max-body-mb must be > 0')
      .max(4_096)
      .default(DEFAULT_MAX_BODY_BYTES / 1024 / 1024),
    /** Caps the scenario policy's result cache (README "Result cache"); absent: no cap. */
    serveCacheEntries: z.coerce.number().int().min(0, '--serve-cache-entries must be 0 (off) or more').max(1_000_000).optional(),
    serveCacheTtlMs: z.coerce.number().int().min(1, '--serve-cache-ttl-ms must be at least 1').max(86_400_000).optional(),
    probe: z.enum(['idle', 'always', 'off'], { error: '--probe must be idle, always or off' }).default('idle'),
    /** Disk the telemetry outbox may take while the broker is unreachable; past it the oldest windows are dropped. */
    outboxMaxMb: z.coerce
      .number({ error: '--outbox-max-mb must be a number of MiB' })
      .positive('--outbox-max-mb must be > 0')
      .max(10_240)
      .default(10),
    /** A buffered window older than this is dropped. */
    outboxMaxAgeHours: z.coerce
      .number({ error: '--outbox-max-age-hours must be a number of hours' })
      .positive('--outbox-max-age-hours must be > 0')
      .max(8_760)
      .default(24),
    /** Fault injection (demos, tests): every run of the model this much slower; absent: off. */
    injectLatencyMs: z.coerce.number().int().min(1, '--inject-latency-ms must be at least 1').max(60_000).optional(),
    /** Seconds after start the injected latency begins (after a new model's probation, say). */
    injectLatencyAfterS: z.coerce.number().int().min(0, '--inject-latency-after-s must be 0 or more').max(86_400).default(0),
    /** From FLEET_AGENT_CRASH_AT (crash-safety tests only). */
    crashAt: CrashPointSchema.optional(),
  })
  .refine((a) => a.watchdogBreaches <= a.watchdogWindows, {
    message: '--watchdog-breaches must not exceed --watchdog-windows',
    path: ['watchdogBreaches'],
  })
  // a cloud node (--serve-public-url) is guarded by the control plane's forwarding grants; the agent refuses to listen if its profile is no cloud node's
  .refine((a) => a.servePort === 'off' || isLoopback(a.serveHost) || a.serveTokenFile !== undefined || a.servePublicUrl !== undefined, {
    message: '--serve-host other than loopback needs --serve-token-file (a bearer token), or --serve-public-url on a cloud node',
    path: ['serveHost'],
  });
export type CliArgs = z.infer<typeof CliArgsSchema>;

export type Parsed<T> = { ok: true; value: T } | { ok: false; message: string };

export const USAGE =
  'usage: fleet-agent --url <controlPlaneUrl> --data-dir <dir> [--token <enrollmentToken>] ' +
  '[--profile <preset|profile.json>] [--name <name>] [--ca-file <ca.pem>] [--enroll-attempts <n>] [--mqtt-url <url>] [--log-level info] [--seed <n>] ' +
  '[--download-stall-timeout <s>] [--download-deadline <s>] [--watchdog-windows <n>] [--watchdog-breaches <n>] ' +
  '[--serve-socket <path|off>] [--serve-port <n|off>] [--serve-host <addr>] [--serve-token-file <path>] [--serve-public-url <url>] [--serve-queue <n>] ' +
  '[--serve-deadline-ms <n>] [--serve-max-body-mb <n>] [--probe idle|always|off] ' +
  '[--serve-cache-entries <n>] [--serve-cache-ttl-ms <n>] [--outbox-max-mb <MiB>] [--outbox-max-age-hours <h>] ' +
  '[--inject-latency-ms <n> [--inject-latency-after-s <s>]]';

/** The one environment variable the agent reads (tests kill it at a chosen step). */
export const CRASH_ENV = 'FLEET_AGENT_CRASH_AT';

/** Parses argv (without node and script) and the environment into validated options, or a message naming the problem. */
export function parseCliArgs(argv: readonly string[], env: Readonly<Record<string, string | undefined>> = {}): Parsed<CliArgs> {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        url: { type: 'string' },
        'data-dir': { type: 'string' },
        token: { type: 'string' },
        profile: { type: 'string' },
        name: { type: 'string' },
        'ca-file': { type: 'string' },
        'enroll-attempts': { type: 'string' },
        'mqtt-url': { type: 'string' },
        'log-level': { type: 'string' },
        seed: { type: 'string' },
        'download-stall-timeout': { type: 'string' },
        'download-deadline': { type: 'string' },
        'watchdog-windows': { type: 'string' },
        'watchdog-breaches': { type: 'string' },
        'serve-socket': { type: 'string' },
        'serve-port': { type: 'string' },
        'serve-host': { type: 'string' },
        'serve-token-file': { type: 'string' },
        'serve-public-url': { type: 'string' },
        'serve-queue': { type: 'string' },
        'serve-deadline-ms': { type: 'string' },
        'serve-max-body-mb': { type: 'string' },
        probe: { type: 'string' },
        'serve-cache-entries': { type: 'string' },
        'serve-cache-ttl-ms': { type: 'string' },
        'outbox-max-mb': { type: 'string' },
        'outbox-max-age-hours': { type: 'string' },
        'inject-latency-ms': { type: 'string' },
        'inject-latency-after-s': { type: 'string' },
      },
    }).values;
  } catch (err) {
    return { ok: false, message: `${err instanceof Error ? err.message : String(err)}\n${USAGE}` };
  }
  const parsed = CliArgsSchema.safeParse({
    url: values.url ?? '',
    dataDir: values['data-dir'] ?? '',
    token: values.token,
    profile: values.profile,
    name: values.name,
    caFile: values['ca-file'],
    enrollAttempts: values['enroll-attempts'],
    mqttUrl: values['mqtt-url'],
    logLevel: values['log-level'],
    seed: values.seed,
    downloadStallTimeoutS: values['download-stall-timeout'],
    downloadDeadlineS: values['download-deadline'],
    watchdogWindows: values['watchdog-windows'],
    watchdogBreaches: values['watchdog-breaches'],
    serveSocket: values['serve-socket'],
    servePort: values['serve-port'],
    serveHost: values['serve-host'],
    serveTokenFile: values['serve-token-file'],
    servePublicUrl: values['serve-public-url'],
    serveQueue: values['serve-queue'],
    serveDeadlineMs: values['serve-deadline-ms'],
    serveMaxBodyMb: values['serve-max-body-mb'],
    probe: values.probe,
    serveCacheEntries: values['serve-cache-entries'],
    serveCacheTtlMs: values['serve-cache-ttl-ms'],
    outboxMaxMb: values['outbox-max-mb'],
    outboxMaxAgeHours: values['outbox-max-age-hours'],
    injectLatencyMs: values['inject-latency-ms'],
    injectLatencyAfterS: values['inject-latency-after-s'],
    crashAt: env[CRASH_ENV] === '' ? undefined : env[CRASH_ENV],
  });
  if (!parsed.success) return { ok: false, message: `${formatIssues(parsed.error)}\n${USAGE}` };
  return { ok: true, value: parsed.data };
}

export interface ResolvedProfile {
  profile: HardwareProfile;
  /** Preset name or file name; labels power estimates. */
  label: string;
}

/** `--profile` is a preset name from HARDWARE_PRESETS or a path to a JSON HardwareProfile. */
export function resolveProfile(
  value: string,
  readText: (path: string) => string = (p) => readFileSync(p, 'utf8'),
): Parsed<ResolvedProfile> {
  if (isHardwarePreset(value)) return { ok: true, value: { profile: hardwarePreset(value), label: value } };
  const known = Object.keys(HARDWARE_PRESETS).join(', ');
  let text: string;
  try {
    text = readText(value);
  } catch {
    return { ok: false, message: `--profile "${value}" is neither a hardware preset (known: ${known}) nor a readable JSON file` };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return { ok: false, message: `profile file ${value} is not valid JSON: ${err instanceof Error ? err.message : String(err)}` };
  }
  const parsed = HardwareProfileSchema.safeParse(raw);
  if (!parsed.success)
    return { ok: false, message: `profile file ${value} is not a valid hardware profile: ${formatIssues(parsed.error)}` };
  return { ok: true, value: { profile: parsed.data, label: parsed.data.hardwareClass } };
}

export function formatIssues(error: z.ZodError): string {
  return error.issues
    .map((i) => {
      const at = i.path[0] === 'crashAt' ? CRASH_ENV : i.path.join('.');
      return at.length > 0 ? `${at}: ${i.message}` : i.message;
    })
    .join('; ');
}

/** The local inference API's settings from the CLI; the token is read from its file so it never shows in `ps`. */
export function serveConfigFrom(args: CliArgs, readText: (path: string) => string = (p) => readFileSync(p, 'utf8')): Parsed<ServeConfig> {
  let token: string | null = null;
  if (args.serveTokenFile !== undefined) {
    try {
      token = readText(args.serveTokenFile).trim();
    } catch {
      return { ok: false, message: `--serve-token-file ${args.serveTokenFile} cannot be read` };
    }
    if (token.length < 16)
      return { ok: false, message: `--serve-token-file ${args.serveTokenFile}: the token needs at least 16 characters` };
  }
  return {
    ok: true,
    value: {
      socketPath: args.serveSocket === 'off' ? null : (args.serveSocket ?? join(args.dataDir, DEFAULT_SOCKET_NAME)),
      host: args.serveHost,
      port: args.servePort === 'off' ? null : args.servePort,
      token,
      maxBodyBytes: Math.round(args.serveMaxBodyMb * 1024 * 1024),
      queueDepth: args.serveQueue,
      deadlineMs: args.serveDeadlineMs ?? null,
      ...(args.serveCacheEntries === undefined ? {} : { cacheEntries: args.serveCacheEntries }),
      ...(args.serveCacheTtlMs === undefined ? {} : { cacheTtlMs: args.serveCacheTtlMs }),
    },
  };
}
