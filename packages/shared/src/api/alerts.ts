import { z } from 'zod';
import { ScenarioSchema } from '../schemas.js';

/**
 * What a rule can watch. Window metrics are read from the stored telemetry windows of the rule's
 * lookback; fleet conditions from the device, reported-state and rollout rows.
 */
export const ALERT_METRICS = [
  'latency_ms',
  'error_rate',
  'power_w',
  'throughput_ips',
  'memory_rss_mb',
  'memory_headroom_mb',
  'device_offline',
  'telemetry_silent_s',
  'update_failed',
  'stale_metadata',
  'rollout_failed',
  'clone_suspected',
] as const;
export const AlertMetricSchema = z.enum(ALERT_METRICS, {
  error: (i) => `unknown metric ${JSON.stringify(i.input)}; use one of ${ALERT_METRICS.join(', ')}`,
});
export type AlertMetric = z.infer<typeof AlertMetricSchema>;

/** Metrics whose threshold the scenario's policy gives when the rule sets none. */
export const POLICY_METRICS: readonly AlertMetric[] = ['latency_ms', 'error_rate', 'power_w'];
/** Conditions that are true or false: no threshold, no hysteresis band. */
export const BOOLEAN_METRICS: readonly AlertMetric[] = [
  'device_offline',
  'update_failed',
  'stale_metadata',
  'rollout_failed',
  'clone_suspected',
];
/** Floors: the alert is about a value too low; every other metric alerts above its threshold. */
export const FLOOR_METRICS: readonly AlertMetric[] = ['throughput_ips', 'memory_headroom_mb'];

/**
 * How `memory_headroom_mb` is measured: the DRAM the device's hardware profile declares minus the
 * agent's largest RSS in the rule's lookback (the agent measures its own RSS; what other processes on
 * the device use is not reported, so the headroom is an upper bound).
 */
export const MEMORY_HEADROOM_BASIS = 'hardware profile dramMb minus the agent RSS (max over the lookback)';

export const AlertSeveritySchema = z.enum(['critical', 'warning', 'info']);
export const AlertStateSchema = z.enum(['inactive', 'pending', 'firing', 'resolved']);
export type AlertState = z.infer<typeof AlertStateSchema>;

/** A whole number of seconds in [min, max], its errors naming the field. */
export const wholeSeconds = (what: string, min: number, max: number) =>
  z
    .number({ error: `${what} must be a number of seconds` })
    .int(`${what} must be whole seconds`)
    .min(min, `${what} must be at least ${min} s`)
    .max(max, `${what} must be at most ${max} s`);

/** The settings of a rule an operator writes (REST body, tRPC input, YAML entry). */
export const AlertRuleSettingsSchema = z
  .strictObject({
    name: z
      .string()
      .min(1)
      .max(100)
      .regex(/^[A-Za-z0-9_.:-]+$/, 'name: letters, digits and _ . : - only'),
    metric: AlertMetricSchema,
    /** Null: every scenario. */
    scenario: ScenarioSchema.nullable().default(null),
    /** Null: the scenario's policy gives it (latency target, error-rate maximum, power budget). */
    threshold: z.number().finite().nullable().default(null),
    /** Latency rules only; null: the policy's tier percentile. */
    percentile: z.enum(['p50', 'p95', 'p99']).nullable().default(null),
    /** How long the condition must hold before the alert fires. */
    forSeconds: wholeSeconds('forSeconds', 0, 86_400).default(60),
    /** Which windows a pass reads: those that ended within this many seconds before now. */
    lookbackSeconds: wholeSeconds('lookbackSeconds', 1, 86_400).default(60),
    /** A firing alert resolves only once the value is this fraction on the good side of the threshold. */
    hysteresis: z.number().min(0, 'hysteresis must be between 0 and 0.9').max(0.9, 'hysteresis must be between 0 and 0.9').default(0.1),
    severity: AlertSeveritySchema.default('warning'),
    enabled: z.boolean().default(true),
  })
  .superRefine((r, ctx) => {
    const bad = (message: string, path: string) => ctx.addIssue({ code: 'custom', message, path: [path] });
    const isBool = BOOLEAN_METRICS.includes(r.metric);
    if (isBool && r.threshold !== null) bad(`${r.metric} is a condition, it takes no threshold`, 'threshold');
    if (r.threshold === null && !isBool && !POLICY_METRICS.includes(r.metric))
      bad(`${r.metric} needs a threshold (only ${POLICY_METRICS.join(', ')} take theirs from the policy)`, 'threshold');
    if (r.percentile !== null && r.metric !== 'latency_ms') bad('only latency_ms rules take a percentile', 'percentile');
    const t = r.threshold;
    if (t === null) return;
    if (r.metric === 'error_rate' && (t < 0 || t >= 1)) bad('an error rate threshold is a fraction in [0, 1)', 'threshold');
    else if (r.metric === 'throughput_ips' && t <= 0) bad('a throughput floor must be above 0 inferences/s', 'threshold');
    else if (r.metric === 'memory_headroom_mb' && (t <= 0 || t > 4_194_304))
      bad('a memory headroom floor must be above 0 and at most 4194304 MB', 'threshold');
    else if (t <= 0 && r.metric !== 'telemetry_silent_s') bad(`a ${r.metric} threshold must be above 0`, 'threshold');
    else if (r.metric === 'telemetry_silent_s' && (t < 1 || t > 86_400)) bad('telemetry_silent_s must be 1 to 86400 s', 'threshold');
    else if (r.metric === 'latency_ms' && t > 3_600_000) bad('a latency threshold above an hour cannot be measured', 'threshold');
  });
export type AlertRuleSettings = z.infer<typeof AlertRuleSettingsSchema>;
/** A rule's settings fields, in the schema's order: the repository's columns, the YAML's keys, the form's fields. */
export const ALERT_RULE_FIELDS = Object.keys(AlertRuleSettingsSchema.shape) as (keyof AlertRuleSettings)[];
export type AlertRuleSettingsInput = z.input<typeof AlertRuleSettingsSchema>;

export const AlertRuleViewSchema = z.object({
  id: z.string(),
  name: z.string(),
  metric: AlertMetricSchema,
  scenario: z.string().nullable(),
  threshold: z.number().nullable(),
  percentile: z.string().nullable(),
  forSeconds: z.number(),
  lookbackSeconds: z.number(),
  hysteresis: z.number(),
  severity: z.string(),
  enabled: z.boolean(),
  /** `policy`: one of the rules every fleet starts with; `operator`: added by an operator. */
  origin: z.string(),
  updatedAt: z.string(),
});
export type AlertRuleView = z.infer<typeof AlertRuleViewSchema>;
export const AlertRuleListSchema = z.object({ items: z.array(AlertRuleViewSchema) });

export const AlertIdParamsSchema = z.strictObject({ id: z.uuid() });

/** tRPC `alerts.updateRule` input (REST sends the id in the path). */
export const AlertRuleUpdateInputSchema = z.strictObject({ id: z.uuid(), rule: z.unknown() });

export const AlertListQuerySchema = z.strictObject({
  state: z.enum(['active', 'pending', 'firing', 'resolved', 'all']).default('active'),
  limit: z.coerce.number().int().min(1).max(1_000).default(200),
});
export type AlertListQuery = z.infer<typeof AlertListQuerySchema>;

export const AlertViewSchema = z.object({
  id: z.string(),
  fingerprint: z.string(),
  ruleId: z.string(),
  ruleName: z.string(),
  metric: z.string(),
  severity: z.string(),
  scenario: z.string().nullable(),
  subject: z.string(),
  state: AlertStateSchema,
  value: z.number().nullable(),
  threshold: z.number().nullable(),
  activeAt: z.string().nullable(),
  firedAt: z.string().nullable(),
  resolvedAt: z.string().nullable(),
  /** The id of an active silence matching the alert, if any. */
  silencedBy: z.string().nullable(),
});
export type AlertView = z.infer<typeof AlertViewSchema>;
export const AlertListSchema = z.object({ items: z.array(AlertViewSchema), firing: z.number(), pending: z.number() });
export type AlertList = z.infer<typeof AlertListSchema>;

export const AlertTransitionViewSchema = z.object({
  from: AlertStateSchema,
  to: AlertStateSchema,
  at: z.string(),
  value: z.number().nullable(),
  threshold: z.number().nullable(),
  figures: z.record(z.string(), z.unknown()),
});
export const AlertDetailSchema = AlertViewSchema.extend({ transitions: z.array(AlertTransitionViewSchema) });
export type AlertDetail = z.infer<typeof AlertDetailSchema>;

/** The labels an alert carries (and a silence matches on). */
export const ALERT_LABELS = ['alertname', 'metric', 'severity', 'scenario', 'device', 'rollout', 'rule_id'] as const;

export const SilenceMatcherSchema = z.strictObject({
  name: z.enum(ALERT_LABELS, { error: (i) => `unknown label ${JSON.stringify(i.input)}; use one of ${ALERT_LABELS.join(', ')}` }),
  value: z.string().min(1).max(200),
});

export const CreateSilenceSchema = z.strictObject({
  matchers: z.array(SilenceMatcherSchema).min(1, 'a silence needs at least one matcher').max(10),
  /** How long from now the silence holds. */
  durationSeconds: wholeSeconds('durationSeconds', 60, 90 * 86_400),
  comment: z.string().min(1, 'say why (comment)').max(500),
});
export type CreateSilence = z.infer<typeof CreateSilenceSchema>;

export const SilenceViewSchema = z.object({
  id: z.string(),
  matchers: z.array(SilenceMatcherSchema),
  startsAt: z.string(),
  endsAt: z.string(),
  comment: z.string(),
  createdBy: z.string(),
  active: z.boolean(),
});
export type SilenceView = z.infer<typeof SilenceViewSchema>;
export const SilenceListSchema = z.object({ items: z.array(SilenceViewSchema) });

export const CreateWebhookSchema = z.strictObject({
  name: z.string().min(1).max(100),
  url: z
    .string()
    .max(2_000)
    .url('url must be an absolute http(s) URL')
    .refine((u) => /^https?:\/\//i.test(u), 'url must be http or https'),
  /** The HMAC key; generated (and shown once) when absent. */
  secret: z.string().min(16, 'secret must be at least 16 characters').max(256).optional(),
});
export type CreateWebhook = z.infer<typeof CreateWebhookSchema>;

/** A receiver as the API shows it: never its secret. */
export const WebhookViewSchema = z.object({
  id: z.string(),
  name: z.string(),
  url: z.string(),
  enabled: z.boolean(),
  createdAt: z.string(),
});
export type WebhookView = z.infer<typeof WebhookViewSchema>;
/** The answer to a creation: the secret, this once. */
export const WebhookCreatedSchema = WebhookViewSchema.extend({ secret: z.string() });
export const WebhookListSchema = z.object({ items: z.array(WebhookViewSchema) });

export const WebhookDeliveryViewSchema = z.object({
  id: z.string(),
  receiverId: z.string(),
  alertId: z.string(),
  status: z.enum(['firing', 'resolved']),
  attempt: z.number(),
  outcome: z.enum(['delivered', 'failed']),
  httpStatus: z.number().nullable(),
  error: z.string().nullable(),
  durationMs: z.number(),
  at: z.string(),
});
export type WebhookDeliveryView = z.infer<typeof WebhookDeliveryViewSchema>;
export const WebhookDeliveryListSchema = z.object({ items: z.array(WebhookDeliveryViewSchema) });
