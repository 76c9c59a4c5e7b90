import { z } from 'zod';
import { ScenarioSchema } from '../schemas.js';
import { wholeSeconds } from './alerts.js';

/** `off`: nothing; `suggest`: a pending action an operator approves or rejects; `auto`: applied at once. */
export const RemediationModeSchema = z.enum(['off', 'suggest', 'auto']);
export type RemediationMode = z.infer<typeof RemediationModeSchema>;

/**
 * The remedies of the design brief's failure modes, and their reverse: `precision_step_down` (latency
 * over target), `smaller_variant` (memory over its limit, or a model that failed to load),
 * `rate_reduction` then `low_power` (power over budget), `step_up` (the condition has been clear for
 * the hold-off: the latest remedy is undone), `revert` (a remedy that did not help is undone).
 */
export const RemediationKindSchema = z.enum(['precision_step_down', 'smaller_variant', 'rate_reduction', 'low_power', 'step_up', 'revert']);
export type RemediationKind = z.infer<typeof RemediationKindSchema>;

/**
 * `pending`: waits for an operator (suggest mode); `rejected`, `expired` (its alert ended first);
 * `applied`: in effect, its check window running; `helped`: the alert was no longer firing at the
 * check; `escalated`: did not help, the next remedy of the ladder followed; `failed`: did not help
 * and was reverted; `skipped`: no remedy was possible (the reason says why); `reverted`: undone by a
 * step-up after the hold-off; `superseded`: a new assignment or a rollout replaced it.
 */
export const RemediationStatusSchema = z.enum([
  'pending',
  'rejected',
  'expired',
  'applied',
  'helped',
  'escalated',
  'failed',
  'skipped',
  'reverted',
  'superseded',
]);
export type RemediationStatus = z.infer<typeof RemediationStatusSchema>;

/** A scenario's remediation settings as an operator writes them (REST body, tRPC input). */
export const RemediationSettingsSchema = z.strictObject({
  mode: RemediationModeSchema,
  /** At most this many devices of the scenario changed by remediation in any hour. */
  maxDevicesPerHour: z.int('maxDevicesPerHour must be a whole number').min(0).max(100_000),
  /** And at most this share (percent) of the scenario's devices in any hour (at least one device); null: no share limit. */
  maxPercentPerHour: z
    .number()
    .min(0, 'maxPercentPerHour must be between 0 and 100')
    .max(100, 'maxPercentPerHour must be between 0 and 100')
    .nullable(),
  /** How long the condition must have been clear before a remedy is undone (doubled after each step-up that came back). */
  holdOffSeconds: wholeSeconds('holdOffSeconds', 1, 7 * 86_400),
  /** How long a remedy has to end its alert before it counts as not helping. */
  checkWindowSeconds: wholeSeconds('checkWindowSeconds', 1, 86_400),
  /** The rate a power remedy leaves, as a share of the device's rate. */
  rateFactor: z.number().gt(0, 'rateFactor must be above 0').lt(1, 'rateFactor must be below 1'),
  /** The low-power mode's duty cycle. */
  dutyCycle: z.number().min(0.05, 'dutyCycle must be at least 0.05').lt(1, 'dutyCycle must be below 1'),
});
export type RemediationSettings = z.infer<typeof RemediationSettingsSchema>;
/** The settings fields, in the schema's order: the repository's columns, the YAML's keys, the form's fields. */
export const REMEDIATION_SETTINGS_FIELDS = Object.keys(RemediationSettingsSchema.shape) as (keyof RemediationSettings)[];

export const RemediationSettingsViewSchema = RemediationSettingsSchema.extend({
  scenario: ScenarioSchema,
  updatedBy: z.string().nullable(),
  updatedAt: z.string().nullable(),
});
export type RemediationSettingsView = z.infer<typeof RemediationSettingsViewSchema>;
export const RemediationSettingsListSchema = z.object({ items: z.array(RemediationSettingsViewSchema) });

export const RemediationScenarioParamsSchema = z.strictObject({ scenario: ScenarioSchema });
/** tRPC `remediation.updateSettings` input (REST sends the scenario in the path). */
export const RemediationSettingsUpdateInputSchema = z.strictObject({ scenario: ScenarioSchema, settings: z.unknown() });

/** What a device runs under remediation: a variant override and runtime caps (null: none). */
export const RemediationOverrideSchema = z.object({
  variantId: z.string().nullable(),
  precision: z.string().nullable(),
  maxRateHz: z.number().nullable(),
  dutyCycle: z.number().nullable(),
});
export type RemediationOverride = z.infer<typeof RemediationOverrideSchema>;

export const RemediationActionViewSchema = z.object({
  id: z.string(),
  deviceId: z.string(),
  deviceName: z.string().nullable(),
  scenario: z.string(),
  kind: RemediationKindSchema,
  status: RemediationStatusSchema,
  /** The alert rule that caused it (its name) and the alert. */
  rule: z.string(),
  alertId: z.string().nullable(),
  reason: z.string(),
  before: RemediationOverrideSchema,
  after: RemediationOverrideSchema,
  /** The rule's figures when decided, and at the check. */
  figuresBefore: z.record(z.string(), z.unknown()),
  figuresAfter: z.record(z.string(), z.unknown()).nullable(),
  /** The action a step-up or revert undid. */
  undoes: z.string().nullable(),
  createdAt: z.string(),
  appliedAt: z.string().nullable(),
  checkAt: z.string().nullable(),
  decidedBy: z.string().nullable(),
  decidedAt: z.string().nullable(),
  outcomeAt: z.string().nullable(),
});
export type RemediationActionView = z.infer<typeof RemediationActionViewSchema>;

export const RemediationListQuerySchema = z.strictObject({
  deviceId: z.uuid().optional(),
  scenario: ScenarioSchema.optional(),
  status: RemediationStatusSchema.optional(),
  limit: z.coerce.number().int().min(1).max(1_000).default(200),
});
export type RemediationListQuery = z.infer<typeof RemediationListQuerySchema>;
export const RemediationActionListSchema = z.object({ items: z.array(RemediationActionViewSchema) });
export type RemediationActionList = z.infer<typeof RemediationActionListSchema>;

export const RemediationIdParamsSchema = z.strictObject({ id: z.uuid() });
/** An operator's approval or rejection of a suggested action, with an optional comment for the audit. */
export const RemediationDecisionSchema = z.strictObject({ comment: z.string().max(500).optional() });
export const RemediationDecisionInputSchema = RemediationDecisionSchema.extend({ id: z.uuid() });

/** The device page's remediation state: what is in effect now and the device's latest actions. */
export const DeviceRemediationSchema = z.object({
  override: RemediationOverrideSchema.nullable(),
  actions: z.array(RemediationActionViewSchema),
});
export type DeviceRemediation = z.infer<typeof DeviceRemediationSchema>;
