import { parseArgs } from 'node:util';
import { z } from 'zod';
import { FaultSharesSchema } from '../sim/faults.js';
import { parseScenarioMix, type ScenarioMix } from '../sim/fleet-mix.js';

const share = (flag: string) =>
  z.coerce
    .number({ error: `${flag} takes a share of the fleet between 0 and 1` })
    .min(0, `${flag} must be >= 0`)
    .max(1, `${flag} must be <= 1`)
    .default(0);
const ipv4 = z.ipv4({ error: '--source-addresses takes IPv4 addresses (e.g. 127.0.0.2,127.0.0.3) or "auto"' });

export const SimArgsSchema = z.strictObject({
  url: z.url({ protocol: /^https?$/, error: '--url must be the http(s) URL of the control plane' }),
  devices: z.coerce.number().int().min(1, '--devices must be at least 1').max(100_000, '--devices is at most 100,000 per process'),
  scenarioMix: z.string().transform((v, ctx): ScenarioMix => {
    const mix = parseScenarioMix(v);
    if (mix) return mix;
    ctx.addIssue({ code: 'custom', message: '--scenario-mix must be "even", "random" or a scenario name' });
    return z.NEVER;
  }),
  credentials: z.string().min(1),
  operatorToken: z.string().min(16).optional(),
  operatorTokenFile: z.string().min(1),
  mqttUrl: z
    .string()
    .regex(/^(mqtt|tcp):\/\/[^\s]+$/, '--mqtt-url must look like mqtt://host:port')
    .optional(),
  sourceAddresses: z.string().transform((v, ctx): 'auto' | string[] => {
    if (v === 'auto') return 'auto';
    const list = v
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    for (const a of list)
      if (!ipv4.safeParse(a).success) ctx.addIssue({ code: 'custom', message: `--source-addresses: "${a}" is not an IPv4 address` });
    return list;
  }),
  seed: z.coerce
    .number()
    .int()
    .min(0)
    .max(2 ** 32 - 1)
    .default(1),
  seconds: z.coerce.number().min(1).max(31_536_000).optional(),
  telemetryMs: z.coerce.number().int().min(10, '--telemetry-ms must be at least 10').max(3_600_000).optional(),
  updateTimeScale: z.coerce.number().min(0).max(100).default(1),
  slowFactor: z.coerce.number().min(1, '--slow-factor must be >= 1').max(1_000).default(3),
  enrollConcurrency: z.coerce.number().int().min(1).max(64).default(4),
  connectConcurrency: z.coerce.number().int().min(1).max(2_000).default(32),
  namePrefix: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,40}$/, '--name-prefix: letters, digits, ".", "_" or "-"')
    .default('sim'),
  faults: FaultSharesSchema,
});
export type SimArgs = z.infer<typeof SimArgsSchema>;

export const USAGE = `usage: fleet-sim --url <controlPlaneUrl> --devices <n> [--scenario-mix even|random|<scenario>]
  [--credentials .data/fleet-sim/credentials.json] [--operator-token <t> | --operator-token-file .data/operator-token]
  [--mqtt-url mqtt://host:port] [--source-addresses auto|127.0.0.2,127.0.0.3] [--seed 1] [--seconds <run time>]
  [--telemetry-ms <window length override>] [--update-time-scale 1] [--enroll-concurrency 4] [--connect-concurrency 32]
  faults (share of the fleet, 0..1): [--slow 0.1 [--slow-factor 3]] [--error-burst s] [--power-spike s] [--silent s]
  [--flap s] [--fail-download s] [--crash-activation s]`;

export type Parsed<T> = { ok: true; value: T } | { ok: false; message: string };

const FLAGS = {
  url: 'url',
  devices: 'devices',
  'scenario-mix': 'scenarioMix',
  credentials: 'credentials',
  'operator-token': 'operatorToken',
  'operator-token-file': 'operatorTokenFile',
  'mqtt-url': 'mqttUrl',
  'source-addresses': 'sourceAddresses',
  seed: 'seed',
  seconds: 'seconds',
  'telemetry-ms': 'telemetryMs',
  'update-time-scale': 'updateTimeScale',
  'slow-factor': 'slowFactor',
  'enroll-concurrency': 'enrollConcurrency',
  'connect-concurrency': 'connectConcurrency',
  'name-prefix': 'namePrefix',
} as const;

const FAULT_FLAGS = {
  slow: 'slow',
  'error-burst': 'errorBurst',
  'power-spike': 'powerSpike',
  silent: 'silent',
  flap: 'flap',
  'fail-download': 'failDownload',
  'crash-activation': 'crashActivation',
} as const;

/** Parses argv (without node and script) into validated options, or a message naming the problem. */
/**
 * `pnpm sim -- --devices 10` hands the script a literal `--` first (pnpm 12 passes it through);
 * it separates pnpm's own flags from the script's, so it is dropped rather than refused.
 */
export function withoutLeadingDashDash(argv: readonly string[]): string[] {
  return argv[0] === '--' ? argv.slice(1) : [...argv];
}

export function parseSimArgs(argv: readonly string[]): Parsed<SimArgs> {
  let values: Record<string, string | undefined>;
  try {
    const options = Object.fromEntries([...Object.keys(FLAGS), ...Object.keys(FAULT_FLAGS)].map((k) => [k, { type: 'string' as const }]));
    values = parseArgs({ args: withoutLeadingDashDash(argv), strict: true, allowPositionals: false, options }).values;
  } catch (e) {
    return { ok: false, message: `${e instanceof Error ? e.message : String(e)}\n${USAGE}` };
  }
  const raw: Record<string, unknown> = {
    scenarioMix: 'even',
    credentials: '.data/fleet-sim/credentials.json',
    operatorTokenFile: '.data/operator-token',
    sourceAddresses: 'auto',
    devices: '',
  };
  for (const [flag, key] of Object.entries(FLAGS)) if (values[flag] !== undefined) raw[key] = values[flag];
  const faults: Record<string, number> = {};
  for (const [flag, key] of Object.entries(FAULT_FLAGS)) {
    const v = share(`--${flag}`).safeParse(values[flag]);
    if (!v.success) return { ok: false, message: `${v.error.issues[0]?.message ?? `--${flag} is invalid`}\n${USAGE}` };
    faults[key] = v.data;
  }
  raw.faults = faults;
  const parsed = SimArgsSchema.safeParse(raw);
  if (!parsed.success) {
    const flagOf = (key: PropertyKey | undefined) => Object.entries(FLAGS).find(([, k]) => k === key)?.[0] ?? String(key);
    const lines = parsed.error.issues.map((i) => (i.message.startsWith('--') ? i.message : `--${flagOf(i.path[0])}: ${i.message}`));
    return { ok: false, message: `${lines.join('\n')}\n${USAGE}` };
  }
  return { ok: true, value: parsed.data };
}
